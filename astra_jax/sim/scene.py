"""A world as a MuJoCo model: textured meshes, the robot (a mocap body) and its cameras.

Geoms: one mesh per atlas page for the building (segmentation id 0) and one per landmark and
page, and one per clutter object and page (segmentation id 0: clutter is not a landmark). The
robot is a mocap body at floor level whose children are the rig's cameras, placed
with ``T_ego_cam`` from :func:`astra_jax.geometry.rig_extrinsics`. MuJoCo cameras look along
their -z axis with y up, so a camera's MuJoCo orientation is ``R_ego_cam @ diag(1, -1, -1)``.
Nothing collides (the robot moves kinematically) and nothing casts shadows.

People (:mod:`astra_jax.sim.people`) are mocap bodies too, one per walker: two legs, a torso
and a head, clothes in a checked texture of two colours drawn per person (so that the cameras
see texture on them), segmentation id ``PERSON_ID_BASE + k``. They are never culled (their
bounding spheres move); a renderer parks the ones it is not given far below the floor.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from astra_jax.config import RigConfig, SimConfig
from astra_jax.geometry import rig_extrinsics
from astra_jax.sim import seeds
from astra_jax.sim.atlas import Atlas
from astra_jax.sim.building import mesh_building, mesh_landmark
from astra_jax.sim.changes import Lighting
from astra_jax.sim.clutter import CLUTTER_SEG_ID
from astra_jax.sim.mesh import MeshBuilder
from astra_jax.sim.people import PERSON_ID_BASE, walker_count
from astra_jax.sim.world import BACKGROUND_ID, World

CV_TO_MUJOCO = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes -> MuJoCo camera axes
ZNEAR = 0.02  # m
ZFAR = 120.0  # m
BUILDING_CHUNK_M = 8.0  # side of the square chunks the building mesh is cut into (m)
PARKED = (0.0, 0.0, -50.0)  # where a person body waits when no walker uses it (m)


def split_mesh(arrays: tuple[np.ndarray, ...], cell: float) -> list[tuple[np.ndarray, ...]]:
    """Split (vertices, normals, texcoords, faces) into meshes by the ``cell`` x ``cell`` m
    square holding each *primitive's* centroid.

    A primitive is a connected set of faces (a quad's two triangles, a cylinder): the
    :class:`~astra_jax.sim.mesh.MeshBuilder` shares no vertex between primitives. Primitives are
    never cut, so every chunk has at least one whole primitive and at least 4 vertices, which
    MuJoCo requires of a mesh. Keying single triangles instead put the two triangles of a quad
    that straddles a chunk border into two chunks, and a chunk holding only such a triangle
    (3 vertices) failed to compile (office seed 1, warehouse seeds 2, 12 and 13).
    """
    v, n, tex, f = arrays
    if len(f) == 0:
        return []
    component = _vertex_components(len(v), f)
    count = np.bincount(component)
    centre = np.stack(
        [np.bincount(component, weights=v[:, k]) / np.maximum(count, 1) for k in (0, 1)], -1
    )
    key = np.floor(centre[component[f[:, 0]]] / cell).astype(np.int64)
    groups = np.unique(key, axis=0)
    out = []
    for g in groups:
        faces = f[np.all(key == g, axis=1)]
        used = np.unique(faces)
        remap = np.full(len(v), -1, np.int64)
        remap[used] = np.arange(len(used))
        out.append((v[used], n[used], tex[used], remap[faces]))
    return out


def _vertex_components(num_vertices: int, faces: np.ndarray) -> np.ndarray:
    """(V,) connected-component label of each vertex, with edges from the (M, 3) faces."""
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(rows), np.int8), (rows, cols)), shape=(num_vertices, num_vertices)
    )
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return labels


@dataclasses.dataclass(eq=False)
class Scene:
    """A compiled world. ``geom_landmark[g]`` is the landmark id of geom ``g`` (0: building)."""

    world: World
    rig: RigConfig
    model: mujoco.MjModel
    geom_landmark: np.ndarray
    camera_ids: tuple[int, ...]
    mocap_id: int
    texture_pixels: int
    geom_sphere: (
        np.ndarray
    )  # (ngeom, 4) bounding sphere (x, y, z, r) in the world; r = inf: never culled
    person_mocap_ids: tuple[int, ...] = ()  # mocap index of each person body

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.rig.cameras)


def _quat(r: np.ndarray) -> list[float]:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(r, np.float64).ravel())
    return q.tolist()


def _add_mesh(
    spec: mujoco.MjSpec, name: str, arrays: tuple[np.ndarray, ...], material: str
) -> np.ndarray:
    """Add a mesh geom; returns its bounding sphere (x, y, z, r)."""
    v, n, tex, f = arrays
    mesh = spec.add_mesh(name=name)
    mesh.uservert = v.astype(np.float32).ravel()
    mesh.usernormal = n.astype(np.float32).ravel()
    mesh.usertexcoord = tex.astype(np.float32).ravel()
    mesh.userface = f.astype(np.int32).ravel()
    mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
    spec.worldbody.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_MESH,
        meshname=name,
        material=material,
        contype=0,
        conaffinity=0,
    )
    lo, hi = v.min(0), v.max(0)
    return np.array([*(0.5 * (lo + hi)), 0.5 * float(np.linalg.norm(hi - lo))])


class SceneError(ValueError):
    """A world's MuJoCo scene could not be built; the message names the world and the cause."""


def build_scene(world: World, rig: RigConfig | None = None, sim: SimConfig | None = None
                ) -> Scene:  # fmt: skip
    """Mesh, texture and compile ``world`` with ``rig``'s cameras on a mocap robot, and one
    person body for each of the world's walkers under ``sim.people`` (none without ``sim``).

    Raises :class:`SceneError` (one line: the world, then what MuJoCo or the mesher said)."""
    people, height = 0, 1.75
    if sim is not None and sim.people.active:
        people = walker_count(world.occupancy(sim.occupancy_resolution), sim.people)
        height = sim.people.height
    try:
        return _build_scene(world, rig or RigConfig(), people, height)
    except Exception as e:  # MuJoCo raises ValueError; a mesher bug anything else
        cause = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise SceneError(
            f"{world.origin}: cannot build its MuJoCo scene: {type(e).__name__}: {cause}"
        ) from e


def _add_person(spec: mujoco.MjSpec, k: int, height: float, rng: np.random.Generator) -> list[str]:
    """Person body ``k`` (a mocap body at floor level, facing +x); returns its geom names."""
    shirt = rng.uniform(0.1, 0.9, size=(2, 3))
    trousers = rng.uniform(0.05, 0.5, size=3)
    skin = np.array([0.95, 0.75, 0.6]) * rng.uniform(0.45, 1.0)
    tex = spec.add_texture(name=f"person{k}_clothes", type=mujoco.mjtTexture.mjTEXTURE_CUBE)
    tex.builtin = mujoco.mjtBuiltin.mjBUILTIN_CHECKER
    tex.width = tex.height = 32
    tex.rgb1, tex.rgb2 = shirt[0].tolist(), shirt[1].tolist()
    shirt_mat = spec.add_material(name=f"person{k}_shirt")
    shirt_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"person{k}_clothes"
    shirt_mat.texrepeat = [4.0, 4.0]
    body = spec.worldbody.add_body(name=f"person{k}", mocap=True, pos=list(PARKED))
    hip, neck = 0.47 * height, 0.84 * height
    parts = [  # name, type, size, pos, rgba or material
        ("leg_l", mujoco.mjtGeom.mjGEOM_CAPSULE, [0.07, 0.5 * hip - 0.04, 0], [0, 0.09, 0.5 * hip + 0.03]),
        ("leg_r", mujoco.mjtGeom.mjGEOM_CAPSULE, [0.07, 0.5 * hip - 0.04, 0], [0, -0.09, 0.5 * hip + 0.03]),
        ("torso", mujoco.mjtGeom.mjGEOM_ELLIPSOID, [0.13, 0.21, 0.5 * (neck - hip) + 0.04], [0, 0, 0.5 * (hip + neck)]),
        ("head", mujoco.mjtGeom.mjGEOM_SPHERE, [0.11, 0, 0], [0.01, 0, height - 0.11]),
    ]  # fmt: skip
    names = []
    for part, kind, size, pos in parts:
        name = f"person{k}_{part}"
        g = body.add_geom(name=name, type=kind, size=size, pos=pos, contype=0, conaffinity=0)
        if part == "torso":
            g.material = shirt_mat.name
        else:
            g.rgba = [*(trousers if part.startswith("leg") else skin), 1.0]
        names.append(name)
    return names


def _build_scene(world: World, rig: RigConfig, people: int, height: float) -> Scene:
    atlas = Atlas(world.key, world.seed)
    building = mesh_building(world, atlas)
    landmark_meshes: list[tuple[int, MeshBuilder]] = [
        (lm.id, mesh_landmark(lm, atlas)) for lm in world.landmarks
    ]
    clutter_meshes = [mesh_landmark(c, atlas) for c in world.clutter]  # none in plain worlds
    atlas.pack()
    assert atlas.rects is not None and atlas.page_of is not None

    spec = mujoco.MjSpec()
    spec.modelname = world.name
    q = spec.visual.quality
    q.shadowsize, q.offsamples = 0, 0
    spec.stat.extent = 1.0  # so znear/zfar below are in metres
    spec.visual.map.znear, spec.visual.map.zfar = ZNEAR, ZFAR
    spec.visual.global_.offwidth, spec.visual.global_.offheight = 64, 64  # renderers resize
    lights = world.lighting or Lighting.tour_day()  # a query day's (sim/changes.py) or the tour's
    hl = spec.visual.headlight
    hl.ambient, hl.diffuse = list(lights.headlight_ambient), list(lights.headlight_diffuse)
    hl.specular = [0.0] * 3
    light = spec.worldbody.add_light(name="ceiling")
    light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    light.dir, light.pos = list(lights.ceiling_dir), [0.0, 0.0, 10.0]
    light.diffuse, light.specular = list(lights.ceiling_diffuse), [0.0] * 3
    light.ambient = [0.0] * 3
    light.castshadow = False

    for k, page in enumerate(atlas.pages):
        tex = spec.add_texture(name=f"atlas{k}", type=mujoco.mjtTexture.mjTEXTURE_2D)
        tex.width, tex.height, tex.nchannel = page.shape[1], page.shape[0], 3
        tex.data = np.ascontiguousarray(page).tobytes()
        mat = spec.add_material(name=f"page{k}")
        mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"atlas{k}"
        mat.specular, mat.shininess, mat.reflectance = 0.08, 0.1, 0.0

    names: list[tuple[str, int, np.ndarray]] = []
    for page, arrays in building.finish(atlas.rects, atlas.page_of).items():
        # the building in square chunks, so that each camera draws only the chunks it sees
        for k, chunk in enumerate(split_mesh(arrays, BUILDING_CHUNK_M)):
            name = f"building_p{page}_{k}"
            names.append((name, BACKGROUND_ID, _add_mesh(spec, name, chunk, f"page{page}")))
    for lid, mb in landmark_meshes:
        for page, arrays in mb.finish(atlas.rects, atlas.page_of).items():
            sphere = _add_mesh(spec, f"lm{lid}_p{page}", arrays, f"page{page}")
            names.append((f"lm{lid}_p{page}", lid, sphere))
    for k, mb in enumerate(clutter_meshes):
        for page, arrays in mb.finish(atlas.rects, atlas.page_of).items():
            sphere = _add_mesh(spec, f"clutter{k}_p{page}", arrays, f"page{page}")
            names.append((f"clutter{k}_p{page}", CLUTTER_SEG_ID, sphere))

    robot = spec.worldbody.add_body(name="robot", mocap=True)
    for cam, t in zip(rig.cameras, rig_extrinsics(rig.cameras)):
        c = robot.add_camera(name=cam.name)
        c.pos = t[:3, 3].tolist()
        c.quat = _quat(t[:3, :3] @ CV_TO_MUJOCO)
        c.fovy = 60.0  # set per renderer from its image size

    rng = seeds.rng_for(world.key, world.seed, seeds.STREAM_PEOPLE, 1 << 20)  # clothes
    person_geoms = [(_add_person(spec, k, height, rng), PERSON_ID_BASE + k) for k in range(people)]

    model = spec.compile()
    geom_landmark = np.zeros(model.ngeom, np.int32)
    geom_sphere = np.tile(np.array([0.0, 0.0, 0.0, np.inf]), (model.ngeom, 1))
    for name, lid, sphere in names:
        g = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        geom_landmark[g] = lid
        geom_sphere[g] = sphere
    for geoms, sid in person_geoms:  # their spheres stay inf: never culled
        for name in geoms:
            geom_landmark[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)] = sid
    cams = tuple(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, c.name) for c in rig.cameras)
    mocap = _mocap_index(model, "robot")
    persons = tuple(_mocap_index(model, f"person{k}") for k in range(people))
    return Scene(
        world, rig, model, geom_landmark, cams, mocap, atlas.num_pixels, geom_sphere, persons
    )


def _mocap_index(model: mujoco.MjModel, body: str) -> int:
    return int(model.body_mocapid[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)])

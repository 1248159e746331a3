"""A seeded corpus of Astra-Global prompts and answers, for training our byte-level BPE.

The small models trained here see three kinds of text (paper Sec. 3): coarse localization
(a query image against a landmark map given as text), fine localization (a query image and
reference node images with poses -> a pose), and text goals (an instruction -> landmarks and
nodes by function), plus landmark extraction for map building. The corpus draws these from templates over an indoor vocabulary, with
numbers written as the prompts write them (metres with 2 decimals, degrees as integers), so
the tokenizer learns merges for the words and number shapes the model will meet.
"""

from __future__ import annotations

import numpy as np

CATEGORIES = (
    "door", "window", "sofa", "chair", "table", "desk", "bed", "shelf", "bookshelf", "cabinet",
    "refrigerator", "sink", "stove", "oven", "microwave", "television", "monitor", "lamp",
    "plant", "painting", "poster", "clock", "mirror", "staircase", "elevator", "fire extinguisher",
    "trash can", "printer", "whiteboard", "coat rack", "vending machine", "washing machine",
    "toilet", "bathtub", "counter", "reception desk", "pillar", "radiator", "rug", "curtain",
)  # fmt: skip
COLORS = (
    "red", "green", "blue", "white", "black", "grey", "brown", "yellow", "orange", "beige",
    "wooden", "metallic", "glass", "striped", "dark", "light",
)  # fmt: skip
SIZES = ("small", "large", "tall", "low", "wide", "narrow", "round", "square")
ROOMS = (
    "kitchen", "living room", "bedroom", "office", "corridor", "bathroom", "lobby", "meeting room",
    "dining room", "storage room", "hallway", "laundry room",
)  # fmt: skip
FUNCTIONS = {
    "door": "entering or leaving a room",
    "sofa": "sitting and resting",
    "chair": "sitting",
    "table": "placing objects and eating",
    "desk": "working",
    "bed": "sleeping",
    "refrigerator": "keeping food cold",
    "sink": "washing hands and dishes",
    "stove": "cooking",
    "television": "watching shows",
    "printer": "printing documents",
    "whiteboard": "writing notes in meetings",
    "vending machine": "buying snacks and drinks",
    "toilet": "using the bathroom",
    "lamp": "lighting the room",
    "fire extinguisher": "putting out fires",
}
INSTRUCTIONS = (
    "I want to {f}.",
    "Take me to a place for {f}.",
    "Where can I go for {f}?",
    "Please go somewhere suitable for {f}.",
    "Find the nearest spot for {f}.",
)
SYSTEM = "You are Astra-Global, a robot localization assistant."


def _landmark(rng: np.random.Generator) -> str:
    parts = []
    if rng.random() < 0.6:
        parts.append(str(rng.choice(SIZES)))
    if rng.random() < 0.8:
        parts.append(str(rng.choice(COLORS)))
    parts.append(str(rng.choice(CATEGORIES)))
    return " ".join(parts)


def _pose(rng: np.random.Generator) -> str:
    x, y = rng.uniform(-25.0, 25.0, 2)
    yaw = int(rng.integers(-180, 180))
    return f"x={x:.2f} m, y={y:.2f} m, yaw={yaw} deg"


def _coarse(rng: np.random.Generator) -> str:
    n = int(rng.integers(3, 9))
    ids = rng.choice(400, size=n, replace=False)
    lines = [f"L{int(i)}: {_landmark(rng)} in the {rng.choice(ROOMS)}" for i in ids]
    seen = rng.choice(ids, size=int(rng.integers(1, min(n, 4) + 1)), replace=False)
    prompt = (
        "Here is the landmark map of the building:\n"
        + "\n".join(lines)
        + "\nWhich landmarks are visible in the query image? Answer with their ids."
    )
    answer = "Visible landmarks: " + ", ".join(f"L{int(i)}" for i in sorted(seen)) + "."
    return prompt + "\n" + answer


def _fine(rng: np.random.Generator) -> str:
    k = int(rng.integers(2, 6))
    refs = [
        f"Reference {j + 1} (node N{int(rng.integers(0, 500))}): {_pose(rng)}" for j in range(k)
    ]
    prompt = (
        "The first image is the query. The other images are reference views with known poses:\n"
        + "\n".join(refs)
        + "\nEstimate the pose of the query camera."
    )
    return prompt + "\n" + "Query pose: " + _pose(rng) + "."


def _goal(rng: np.random.Generator) -> str:
    category = str(rng.choice(list(FUNCTIONS)))
    instruction = str(rng.choice(INSTRUCTIONS)).format(f=FUNCTIONS[category])
    nodes = ", ".join(f"N{int(i)}" for i in rng.choice(500, size=int(rng.integers(1, 4))))
    answer = f"A {category} serves this purpose. Go to the {rng.choice(ROOMS)}, nodes {nodes}."
    return instruction + "\n" + answer


def _landmarks(rng: np.random.Generator) -> str:
    """Landmark extraction for map building: category, visual attributes and function."""
    lines = []
    for _ in range(int(rng.integers(1, 5))):
        category = str(rng.choice(CATEGORIES))
        attrs = ", ".join(str(a) for a in rng.choice(COLORS + SIZES, size=2, replace=False))
        use = FUNCTIONS.get(category, "decoration and orientation")
        lines.append(f'{{"category": "{category}", "attributes": "{attrs}", "function": "{use}"}}')
    prompt = "List the landmarks in this image with their category, attributes and function."
    return prompt + "\n[" + ", ".join(lines) + "]"


def prompt_corpus(num_texts: int = 5000, seed: int = 0) -> list[str]:
    """``num_texts`` prompt + answer texts, a function of ``seed`` only."""
    rng = np.random.default_rng(seed)
    kinds = (_coarse, _fine, _goal, _landmarks)
    texts = [SYSTEM]
    for _ in range(num_texts - 1):
        texts.append(kinds[int(rng.integers(0, len(kinds)))](rng))
    return texts

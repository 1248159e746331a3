"""Astra-Local: the 4D encoder (multi-camera ViT, Lift-Splat-Shoot, temporal fusion) and its
depth pre-training; the planning head (flow matching, masked ESDF loss) and the odometry head;
and their run-time parts (depth occupancy, classical planners, plan and odometry metrics)."""

from astra_jax.local_model.config import EncoderConfig
from astra_jax.local_model.depth_loss import depth_loss, depth_targets
from astra_jax.local_model.depth_pretrain import (
    DepthPretrain,
    depth_pretrain_loss,
    examples_from_episode,
)
from astra_jax.local_model.encoder import EncoderOutput, LocalEncoder
from astra_jax.local_model.lift import ImageLift, normalize_images
from astra_jax.local_model.odometry_head import OdometryHead, OdometryHeadConfig
from astra_jax.local_model.planning_head import PlanningHead, PlanningHeadConfig
from astra_jax.local_model.temporal import TemporalFusion, warp_to_current

__all__ = [
    "DepthPretrain",
    "EncoderConfig",
    "EncoderOutput",
    "ImageLift",
    "LocalEncoder",
    "OdometryHead",
    "OdometryHeadConfig",
    "PlanningHead",
    "PlanningHeadConfig",
    "TemporalFusion",
    "depth_loss",
    "depth_pretrain_loss",
    "depth_targets",
    "examples_from_episode",
    "normalize_images",
    "warp_to_current",
]

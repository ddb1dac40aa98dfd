"""Machine drivers and their registry.

``driver`` in a machine's TOML section names a registered driver; an unknown name is a config
error. The built-in drivers are simulated, manual and octoprint; another one registers a factory
taking the machine's config and the agent's state file: ``register_driver("name", Factory)``.
"""
from __future__ import annotations

from collections.abc import Callable

from fablab_nodes.config import MachineConfig
from fablab_nodes.drivers.base import Driver, JobProgress, MachineReading, MachineState, RecordedDriver
from fablab_nodes.drivers.manual import ManualDriver
from fablab_nodes.drivers.octoprint import OctoPrintDriver
from fablab_nodes.drivers.simulated import SimulatedDriver
from fablab_nodes.state_db import StateDB

DriverFactory = Callable[[MachineConfig, StateDB], Driver]

_REGISTRY: dict[str, DriverFactory] = {
    "simulated": SimulatedDriver,
    "manual": ManualDriver,
    "octoprint": OctoPrintDriver,
}


def register_driver(name: str, factory: DriverFactory) -> None:
    """Make ``driver = "<name>"`` usable in the config."""
    _REGISTRY[name] = factory


def driver_names() -> tuple[str, ...]:
    """The registered driver names, sorted."""
    return tuple(sorted(_REGISTRY))


def make_driver(config: MachineConfig, db: StateDB) -> Driver:
    """The driver for one configured machine; KeyError for an unregistered name (the config rejects those)."""
    return _REGISTRY[config.driver](config, db)


__all__ = ["Driver", "DriverFactory", "JobProgress", "MachineReading", "MachineState", "ManualDriver",
           "OctoPrintDriver", "RecordedDriver", "SimulatedDriver", "driver_names", "make_driver", "register_driver"]

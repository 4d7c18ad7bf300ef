"""Every process `make run` supervises has a systemd unit that starts it the same way."""
from __future__ import annotations

import configparser
from pathlib import Path

from minsheng import processes

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def every_process() -> list[str]:
    return [p.name for p in processes.programs(Path("bin"), "x" * 16, Path("model"),
                                               gateway=True)]


def test_each_process_has_a_restarting_unit_that_starts_it_through_exec_process():
    for name in every_process():
        service = unit(f"minsheng-{name}.service")["Service"]
        assert service["ExecStart"].endswith(f"scripts/exec_process.py {name}")
        assert service["Restart"] == "always"
        assert "EnvironmentFile" in service


def test_the_target_starts_every_process_and_no_other():
    wanted = unit("minsheng.target")["Unit"]["Wants"].split()
    assert sorted(wanted) == sorted(f"minsheng-{n}.service" for n in every_process())
    assert sorted(p.name for p in UNITS.glob("minsheng-*.service")) == sorted(wanted)


def test_each_unit_runs_its_process_with_the_environment_every_other_start_gives_it():
    """processes.PROCESS_ENV (the malloc arenas among it) is the one list; a unit file
    cannot import it, so this keeps the units in step."""
    for name in every_process():
        line = unit(f"minsheng-{name}.service")["Service"]["Environment"]
        assert dict(pair.split("=", 1) for pair in line.split()) == processes.PROCESS_ENV, name

"""`make run`'s start order and the one-time bytecode compile (minsheng/processes.py)."""
from __future__ import annotations

import configparser
import sys
from pathlib import Path

from minsheng import processes


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_programs_held_back_do_not_start_with_supervisord_and_the_others_do():
    progs = processes.programs(Path("bin"), "x" * 16, Path("model.tar.gz"), gateway=True)
    later = tuple(p.name for p in progs if p.name != "rasa")
    conf = parsed(processes.supervisord_conf(progs, Path("/srv"), Path("/srv/var"), later))
    assert conf["program:rasa"]["autostart"] == "true"
    for name in later:
        assert conf[f"program:{name}"]["autostart"] == "false"
        assert conf[f"program:{name}"]["autorestart"] == "true"  # supervised once started
    plain = parsed(processes.supervisord_conf(progs, Path("/srv"), Path("/srv/var")))
    assert {plain[f"program:{p.name}"]["autostart"] for p in progs} == {"true"}


def test_rasa_reads_the_endpoints_file_it_is_given():
    default, = processes.programs(Path("bin"), "x" * 16, Path("m.tar.gz"), only=("rasa",))
    other, = processes.programs(Path("bin"), "x" * 16, Path("m.tar.gz"), only=("rasa",),
                                endpoints="/tmp/bench/endpoints.yml")
    assert default.argv[default.argv.index("--endpoints") + 1] == "endpoints.yml"
    assert other.argv[other.argv.index("--endpoints") + 1] == "/tmp/bench/endpoints.yml"


def test_rasa_runs_through_the_start_wrapper_with_rasa_runs_arguments():
    rasa, = processes.programs(Path("bin"), "x" * 16, Path("m.tar.gz"), only=("rasa",))
    assert rasa.argv[:3] == ["bin/python", "-m", "nlu.rasa_run"]
    assert "run" not in rasa.argv  # nlu.rasa_run is `rasa run`: it takes run's arguments
    assert rasa.argv[rasa.argv.index("-m", 3) + 1] == "m.tar.gz"


def test_bytecode_is_compiled_once_per_lock_file(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "somepkg.py").write_text("VALUE = 1\n", encoding="utf-8")
    lock = tmp_path / "uv.lock"
    lock.write_text("one\n", encoding="utf-8")
    python = venv / "bin" / "python"

    assert processes.ensure_bytecode(python, lock) is True
    compiled = list((site / "__pycache__").glob("somepkg.*.pyc"))
    assert len(compiled) == 1
    compiled[0].unlink()
    assert processes.ensure_bytecode(python, lock) is False  # same lock: nothing to do
    assert not list((site / "__pycache__").glob("somepkg.*.pyc"))
    lock.write_text("two\n", encoding="utf-8")  # new dependencies: compiled again
    assert processes.ensure_bytecode(python, lock) is True
    assert list((site / "__pycache__").glob("somepkg.*.pyc"))

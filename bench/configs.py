"""The configurations the README documents, as environments for the benchmarks.

env: DATABASE_URL and CELERY_BROKER_URL as set; embedded: what `make run` gives with no
Redis (SQLite and the embedded broker); sqlite-redis: what `make run` gives with nothing
configured on a machine with Redis. Their files live under var/bench/.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["env", "embedded", "sqlite-redis"]


def config_env(config: str) -> dict[str, str]:
    if config == "env":
        return {}
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    env = {"DATABASE_URL": f"sqlite:///{folder / f'{config}.sqlite3'}"}
    if config == "embedded":
        env["CELERY_BROKER_URL"] = f"embedded+sqlite:///{folder / 'broker.sqlite3'}"
    else:
        env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    return env


def config_from_argv(argv: list[str] | None = None) -> str:
    """--config's value, read before Django is set up (settings come from the environment)."""
    argv = sys.argv if argv is None else argv
    for position, arg in enumerate(argv):
        if arg == "--config" and position + 1 < len(argv):
            return argv[position + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return "env"

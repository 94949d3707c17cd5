"""``python -m tmem.demo [--scripted-llm]``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from tmem.config import LLMConfig, config_from_env
from tmem.demo.scripted import MODEL, ScriptedServer
from tmem.demo.show import run
from tmem.errors import TmemError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tmem.demo", description=__doc__)
    parser.add_argument(
        "--scripted-llm",
        action="store_true",
        help="full mode against a scripted server on 127.0.0.1 (not a model)",
    )
    args = parser.parse_args(argv)
    try:
        config = config_from_env(os.environ)
        with tempfile.TemporaryDirectory(prefix="tmem-demo-") as tmp:
            db = Path(tmp) / "demo.db"
            if not args.scripted_llm:
                run(db, config, sys.stdout)
                return 0
            with ScriptedServer() as server:
                llm = LLMConfig(base_url=server.base_url, model=MODEL, max_retries=0)
                run(db, replace(config, llm=llm), sys.stdout, scripted=True)
    except TmemError as error:
        print(f"tmem demo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write docs/assets/app.svg: a screenshot of the real app on the bundled demo model.

    python docs/screenshot.py [OUT.svg]

The session is made as the tutorial makes it (`loom new mill ...`, then four branches with seed 1),
in a temporary folder, so the picture shows what a reader gets. Pilot drives the app: first child,
token cursor a few tokens in, so the token inspector has something to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "assets" / "app.svg"
# this checkout's app, not whichever loom the environment has installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SIZE = (120, 34)  # wide enough for all three panels, short enough for a README


async def shoot(out: Path) -> None:
    from loom.backends import open_backend
    from loom.cli import main
    from loom.store import Session
    from loom.ui.app import LoomApp

    with tempfile.TemporaryDirectory() as tmp:
        sessions = ["--sessions-dir", tmp]
        with contextlib.redirect_stdout(io.StringIO()):  # the commands' own report is not wanted here
            main([*sessions, "new", "mill", "--prompt", "The miller's youngest son walked along the road to the town"])
            main([*sessions, "generate", "mill", "-n", "4", "--max-tokens", "40", "--seed", "1", "--quiet"])
        session = Session(Path(tmp) / "mill.loom")
        app = LoomApp(session, backend=open_backend("demo"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("j", *["full_stop"] * 5)
            await pilot.pause()
            out.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=out.name, path=str(out.parent))
        session.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    asyncio.run(shoot(target))
    print(target)

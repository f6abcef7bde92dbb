"""`python -m src static OUT/`: the static page (src/web/static_site.py)."""

import argparse

from src import settings
from src.web.static_site import build

parser = argparse.ArgumentParser(prog="python -m src", description=__doc__)
commands = parser.add_subparsers(dest="command", required=True)
static = commands.add_parser("static", help="build the static page (live reading only) into a folder")
static.add_argument("out", help="the folder to write (a Static Space's files)")
static.add_argument(
    "--checkpoint",
    default=str(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT),
    help="the model's .safetensors file (default: the shipped one)",
)
static.add_argument("--app-url", default="", help="where the full app runs, linked from the page")
args = parser.parse_args()
out = build(args.out, args.checkpoint, args.app_url)
size = sum(p.stat().st_size for p in out.iterdir())
print(f"{out}/: {', '.join(sorted(p.name for p in out.iterdir()))}; {size / 1000:.0f} KB")

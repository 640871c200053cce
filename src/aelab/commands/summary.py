"""``aelab summary``: print a SAEHD model's per-part parameter table (:func:`aelab.models.summary`,
like DeepFaceLab's summary.txt), for a model given by flags or by a preset that the flags override."""

from __future__ import annotations

import argparse
import sys

from aelab import models
from aelab.train import PRESETS, Config


def main(argv: list[str] | None = None) -> int:
    """``aelab summary``: print the summary of the model given by flags, or by a preset of
    :meth:`aelab.train.Config.preset` that the flags then override."""
    parser = argparse.ArgumentParser(
        prog="aelab summary", description="Print a SAEHD model's per-part parameter table."
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration, e.g. seed")
    parser.add_argument("--archi", help="df or liae, with options, e.g. liae-ud")
    for key in models.CONFIG_KEYS[1:]:
        parser.add_argument("--" + key.replace("_", "-"), type=int, dest=key)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = Config.preset(args.preset).to_dict() if args.preset else {}
    config.update({key: value for key in models.CONFIG_KEYS if (value := getattr(args, key)) is not None})
    missing = [key for key in models.CONFIG_KEYS if key not in config]
    if missing:
        parser.error(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)} (or give --preset seed)")
    try:
        model = models.build(config, seed=0)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    print(models.summary(model))
    return 0

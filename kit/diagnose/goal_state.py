"""Goal-state rules: what the host asked the agent to run (``goal_state_extensions``, from the ExtensionsConfig XML)
against what the VM shows ran (the extension folders under C:\\Packages\\Plugins: handler manifest and environment,
RuntimeSettings\\N.settings, Status\\N.status).

The agent writes ``RuntimeSettings\\<seqNo>.settings`` for the handler version it runs when it processes a goal state
(formats doc §6.2; the healthy sample's agent log shows the goal state's plugin handled within a minute), so after the
grace time an extension asked for ``enabled`` with no folder at all never ran; a folder of another version means the
agent ran a different version than asked; and settings older than the goal state's ``seqNo`` never reached the
handler. The grace is the platform's general extension budget (20 min, EXTENSION_TIMEOUT's): a goal state younger
than that is still being worked on and is not judged. A goal state without a creation time, or a bundle without the
extension folders, gives a "cannot tell".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ._util import fmt_duration, fmt_ts, frame_evidence
from .engine import Context
from .model import Finding

GRACE = pd.Timedelta(minutes=20)
#: The VM-side frames that show an extension handler version was laid down and run.
RAN = ("handler_manifest", "handler_env", "ext_settings", "ext_status")
_CHECK = "whether the extensions the goal state asks for ran"


def _parts(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def compatible(asked: str, auto_upgrade: object, ran: str) -> bool:
    """``ran`` satisfies ``asked``: the same version, a patch of it (``1.9`` asked, ``1.9.5`` ran), or - when the
    goal state allows auto-upgrade - a newer version of the same major."""
    a, r = _parts(asked), _parts(ran)
    if not a or not r:
        return False
    if r[: len(a)] == a:
        return True
    return auto_upgrade is True and r[0] == a[0] and r >= a


def _newest(gs: pd.DataFrame) -> tuple[pd.DataFrame | None, str | None]:
    """The rows of the newest goal state document, or (None, why it cannot be told)."""
    files = gs["source"].unique()
    if len(files) == 1:
        return gs, None
    per_file = gs.groupby("source", sort=False)["incarnation"].max()
    if per_file.isna().any():
        return None, (f"{len(files)} goal state files and goalStateIncarnation unknown in "
                      + ", ".join(str(s) for s in per_file[per_file.isna()].index))
    return gs[gs["source"] == per_file.idxmax()], None


def _vm_side(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows naming an extension and version, rows whose extension or version was not read)."""
    frames = [ctx.frame(n)[["source", "extension", "ext_version"]] for n in RAN if not ctx.frame(n).empty]
    if not frames:
        empty = pd.DataFrame(columns=["source", "extension", "ext_version"])
        return empty, empty
    df = pd.concat(frames, ignore_index=True)
    # a name that is not Publisher.Type or a version without a digit was not read (a placeholder, a blank)
    bad = ~(df["extension"].astype("string").str.contains(".", regex=False)
            & df["ext_version"].astype("string").str.contains(r"\d", regex=True))
    bad = bad.fillna(True).to_numpy(dtype=bool)
    return df[~bad], df[bad]


def _settings_seq(ctx: Context, ext: str, versions: list[str]) -> int | None:
    s = ctx.frame("ext_settings")
    if s.empty:
        return None
    rows = s[(s["extension"].str.lower() == ext.lower()).fillna(False).to_numpy(dtype=bool)
             & s["ext_version"].isin(versions).fillna(False).to_numpy(dtype=bool)]
    seq = rows["seq"].dropna()
    if seq.empty or len(seq) < len(rows):  # a settings file whose number was not read may be the newest
        return None
    return int(seq.max())


def extension_goal_state_not_applied(ctx: Context) -> Iterable[Finding]:
    gs = ctx.frame("goal_state_extensions")
    if gs.empty:
        return []
    newest, why = _newest(gs)
    if newest is None:
        return [ctx.not_checked(_CHECK, why or "")]
    src = str(newest["source"].iloc[0])
    state = newest["state"].astype("string").str.strip().str.lower()
    asked = newest[(state == "enabled").fillna(False).to_numpy(dtype=bool)]
    unread = newest[~state.isin(["enabled", "disabled", "uninstall"]).fillna(False).to_numpy(dtype=bool)]
    asked = asked.dropna(subset=["extension", "version"])
    asked = asked[asked["version"].astype(str).str.contains(r"\d").to_numpy(dtype=bool)]
    if asked.empty:
        return [ctx.not_checked(_CHECK, f"{src}: state unknown in {len(unread)} row(s)")] if not unread.empty else []
    created = newest["created"].dropna()
    ref = ctx.bundle.collected_at
    if created.empty or ref is None:
        what = f"{src}: createdOnTicks unknown" if created.empty else "the bundle's collection time is unknown"
        return [ctx.not_checked(_CHECK, f"{what}, so whether the agent had time to run them is unknown")]
    age = ref - created.max()
    if age < GRACE:
        return []
    ran, unknown = _vm_side(ctx)
    if ran.empty and unknown.empty:
        return [ctx.not_checked(_CHECK, "the bundle has no extension folders (C/Packages/Plugins) to compare with")]
    problems, cited = [], []
    for r in asked.itertuples(index=False):
        mine = ran[(ran["extension"].str.lower() == str(r.extension).lower()).to_numpy(dtype=bool)]
        versions = sorted(set(mine["ext_version"].astype(str)))
        ok = [v for v in versions if compatible(str(r.version), r.auto_upgrade, v)]
        if not ok and pd.isna(r.auto_upgrade) and any(compatible(str(r.version), True, v) for v in versions):
            continue  # whether this version is the one asked for depends on autoUpgrade, which was not read
        if not versions:
            if not unknown.empty:
                return [ctx.not_checked(_CHECK, "; ".join(f"{s}: extension or version unknown" for s in
                                                          sorted(set(unknown["source"].astype(str)))))]
            problems.append(f"{r.extension} {r.version} was asked for but the VM has no folder, settings or status "
                            "of it: it never ran")
        elif not ok:
            problems.append(f"{r.extension} {r.version} was asked for (autoUpgrade "
                            f"{'unknown' if pd.isna(r.auto_upgrade) else str(r.auto_upgrade).lower()}) but the VM "
                            f"has only {', '.join(versions)}: a different version ran")
        elif not pd.isna(r.seq):
            have = _settings_seq(ctx, str(r.extension), ok)
            if have is not None and have < int(r.seq):
                problems.append(f"{r.extension} {r.version} was asked to run settings {int(r.seq)} but the newest on "
                                f"the VM is {have}.settings: the new settings never reached the handler")
            else:
                continue
        else:
            continue
        cited.append(r)
    if not problems:
        return []
    rows = pd.DataFrame(cited)
    return [ctx.finding("EXTENSION_GOAL_STATE_NOT_APPLIED",
                        f"The goal state created {fmt_ts(created.max())} ({fmt_duration(age)} before collection) "
                        f"was not applied: " + "; ".join(problems) + ".",
                        frame_evidence(rows, "goal_state_extensions", ["text"]))]


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "extension_goal_state_not_applied": {
        "goal_state_extensions": ("incarnation", "created", "extension", "version", "state", "auto_upgrade", "seq"),
        "handler_manifest": ("extension", "ext_version"), "handler_env": ("extension", "ext_version"),
        "ext_settings": ("extension", "ext_version", "seq"), "ext_status": ("extension", "ext_version"),
    },
}

RULES = [extension_goal_state_not_applied]

"""What a reload (SIGHUP) changes: a pure comparison of the running and the
new configuration. Folders are added, removed or replaced, timings take
effect at once; a few settings need a restart and keep their running value."""

from __future__ import annotations

import dataclasses

from .config import Config, FolderSettings


@dataclasses.dataclass
class ReloadPlan:
    added: list[FolderSettings]
    removed: list[str]
    changed: list[FolderSettings]
    restart_needed: list[str]
    effective: Config  # the new configuration, with the restart-only settings kept as they run

    def summary(self) -> list[str]:
        parts = []
        if self.added:
            parts.append("added " + ", ".join(f.name for f in self.added))
        if self.removed:
            parts.append("removed " + ", ".join(self.removed))
        if self.changed:
            parts.append("changed " + ", ".join(f.name for f in self.changed))
        return parts


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    old_folders = {f.name: f for f in old.folders}
    new_folders = {f.name: f for f in new.folders}
    added = [f for name, f in new_folders.items() if name not in old_folders]
    removed = [name for name in old_folders if name not in new_folders]
    changed = [f for name, f in new_folders.items() if name in old_folders and old_folders[name] != f]
    restart_needed = []
    effective = new
    if new.state_dir != old.state_dir:
        restart_needed.append("state_dir")
        effective = dataclasses.replace(effective, state_dir=old.state_dir)
    if new.webhook != old.webhook:
        restart_needed.append("webhook")
        effective = dataclasses.replace(effective, webhook=old.webhook)
    if new.api.parallel_uploads != old.api.parallel_uploads:
        restart_needed.append("api.parallel_uploads")
        effective = dataclasses.replace(effective, api=dataclasses.replace(
            effective.api, parallel_uploads=old.api.parallel_uploads))
    if new.watch.mode != old.watch.mode:
        restart_needed.append("watch.mode (for the folders already watched)")
    return ReloadPlan(added, removed, changed, restart_needed, effective)

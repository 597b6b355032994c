"""The states of a file on its road, and the transitions allowed between them.

This module is the one place that knows them. The journal refuses a transition
this table does not allow; every other module names states through `FileState`.

    (inbox) --claim--> CLAIMED --batch--> BATCHED --upload--> UPLOADED
            --submit--> SUBMITTED --confirm--> CONFIRMED --file--> FILED

A file that must not be uploaded (unsupported, empty, mismatched) goes from
CLAIMED straight to CONFIRMED with outcome "failed"; a permanent API error
does the same from BATCHED or UPLOADED. Work that must be done again (a
restart before the job existed) goes back to CLAIMED.
"""

from __future__ import annotations

import enum


class FileState(str, enum.Enum):
    CLAIMED = "claimed"        # renamed into the processing area, waiting for a batch
    BATCHED = "batched"        # member of a closed batch, waiting for its upload
    UPLOADED = "uploaded"      # bytes PUT to the signed URL; fileUri known
    SUBMITTED = "submitted"    # SenseTask document exists; waiting for a final status
    CONFIRMED = "confirmed"    # outcome known (done or failed); waiting to be filed
    FILED = "filed"            # moved to done/ or failed/ with its report: the end


class Outcome(str, enum.Enum):
    DONE = "done"
    FAILED = "failed"


ALLOWED: dict[FileState, frozenset[FileState]] = {
    FileState.CLAIMED: frozenset({FileState.BATCHED, FileState.CONFIRMED}),
    FileState.BATCHED: frozenset({FileState.UPLOADED, FileState.CONFIRMED, FileState.CLAIMED}),
    FileState.UPLOADED: frozenset({FileState.SUBMITTED, FileState.CONFIRMED, FileState.CLAIMED}),
    FileState.SUBMITTED: frozenset({FileState.CONFIRMED}),
    FileState.CONFIRMED: frozenset({FileState.FILED}),
    FileState.FILED: frozenset(),
}

# States in which a file is still the daemon's work (it sits in the processing area).
ACTIVE = frozenset(s for s in FileState if s is not FileState.FILED)
# States in which the file is waiting for SenseTask rather than for us.
IN_FLIGHT = frozenset({FileState.UPLOADED, FileState.SUBMITTED})


class BatchStep(str, enum.Enum):
    """Where a closed batch stands, derived from its files and its job id."""
    UPLOAD = "upload"          # some files still need POST /files/ and a PUT
    JOB = "job"                # all uploaded; POST /jobs/ next
    DOCUMENTS = "documents"    # job exists; POST /documents/batch/<jobId>/ next
    DONE = "done"              # every file has a document, or was failed


def batch_step(file_states: list[FileState], job_id: str | None) -> BatchStep:
    if not any(s in (FileState.BATCHED, FileState.UPLOADED) for s in file_states):
        return BatchStep.DONE
    if FileState.BATCHED in file_states:
        return BatchStep.UPLOAD
    return BatchStep.JOB if job_id is None else BatchStep.DOCUMENTS


class TransitionError(RuntimeError):
    """A module tried a move the road does not allow: a bug of ours."""


def check_transition(current: FileState, new: FileState) -> None:
    if new not in ALLOWED[current]:
        raise TransitionError(f"a file cannot go from {current.value} to {new.value}")

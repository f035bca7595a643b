"""Atomic writes: the target is either the old file or the new one, never a half-written one."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from facelab import io


def test_failed_write_leaves_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "results.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_permissions_follow_umask_and_numpy_types_serialise(tmp_path):
    target = io.write_json(tmp_path / "r.json", {"x": np.float32(0.5), "n": np.int64(3), "v": np.arange(2)})
    assert json.loads(target.read_text()) == {"x": 0.5, "n": 3, "v": [0, 1]}
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    io.save_npz(tmp_path / "a.npz", x=np.arange(3))
    with np.load(tmp_path / "a.npz") as z:
        assert z["x"].tolist() == [0, 1, 2]

"""What the analyzers share: a model loaded once per process, one frame every N seconds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aiwork.analyzers.models import load_once
from aiwork.errors import AnalyzerUnavailable
from aiwork.media.decode import FrameStore


def test_a_model_is_loaded_once_however_many_threads_ask() -> None:
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        time.sleep(0.05)  # long enough for every thread to ask while it loads
        return object()

    key = ("test-model", id(loads))
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(load_once(key, load)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_a_load_that_fails_is_tried_again() -> None:
    key = ("test-broken-model", object())
    with pytest.raises(AnalyzerUnavailable):
        load_once(key, lambda: (_ for _ in ()).throw(AnalyzerUnavailable("damaged")))
    assert load_once(key, lambda: "repaired") == "repaired"


def test_one_frame_every_n_seconds(tmp_path: Path) -> None:
    store = FrameStore(tmp_path, times=[0.0, 0.5, 1.0, 1.5, 2.0, 2.9, 3.0, 4.2])
    assert store.every(1.0) == [0, 2, 4, 6, 7]
    assert store.every(2.0) == [0, 4, 7]
    # Each chosen frame stands for the time up to the next chosen one, the last to the end.
    assert store.spans([0, 4, 7], 5.0) == [(0.0, 2.0), (2.0, 4.2), (4.2, 5.0)]
    assert store.spans([7], 4.0) == [(4.2, 4.2)]  # never ends before it starts


def test_the_registry_finds_each_analyzer_by_its_own_name() -> None:
    from aiwork import analyzers

    for name, module in analyzers.REGISTRY.items():
        assert module == f"aiwork.analyzers.{name}"  # one file (or package) per analyzer
        try:
            cls = analyzers._class(name)
        except ModuleNotFoundError:  # a trimmed install
            continue
        assert cls.name == name and cls.insight == name

"""Count AWS API operations made through a boto3 Session."""

from __future__ import annotations

import threading
from collections import Counter

from support.moto_server import MOTO_REGION


class CallCounter:
    """Counts API operations on a boto3 Session (botocore's before-call fires once per
    operation, retries included)."""

    def __init__(self, region: str = MOTO_REGION) -> None:
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.region = region

    def session(self):
        import boto3

        session = boto3.session.Session(region_name=self.region)
        session.events.register("before-call", self._hook)
        return session

    def _hook(self, model=None, **_kw) -> None:
        with self.lock:
            self.counts[model.name] += 1

    def snapshot(self) -> Counter:
        with self.lock:
            return Counter(self.counts)

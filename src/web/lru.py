"""A bounded dict that forgets the least recently used entry first, for caches that functools.lru_cache cannot be:
keyed by something other than the arguments, or with work to do when an entry goes.

    links = LRU(10_000, forget=lambda path, token: tokens.pop(token))
    links.get(path)             # the value (now the most recently used), or None
    links.put(path, token)      # past the size, the least recently used entries go, through `forget`
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class LRU:
    def __init__(self, size: int, forget: Callable[[Hashable, object], None] | None = None):
        self.size, self._forget = size, forget
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                old, gone = self._items.popitem(last=False)
                if self._forget is not None:
                    self._forget(old, gone)

    def __len__(self) -> int:
        return len(self._items)

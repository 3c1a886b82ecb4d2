"""moto's server with DynamoDB requests handled one at a time.

moto's server is threaded and its DynamoDB checks a write's condition and applies the
write as two steps, so two concurrent conditional writes can both succeed. Real DynamoDB
applies a conditional write atomically; the tests that race requests on one key rely on
that, so DynamoDB calls are serialised here. Every other service runs as moto ships it.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT
"""

import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised

if __name__ == "__main__":
    main()

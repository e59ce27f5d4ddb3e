"""Phoenix Channels: sockets and channels as supervised processes, wire-compatible with the
official ``phoenix`` JavaScript client, over WebSocket and LongPoll, as one ASGI app.

>>> from beamish import channels
>>> class Room(channels.Channel):
...     def join(self, topic, payload, socket):
...         return None
...     def handle_in(self, event, payload, socket):
...         return channels.ok({"echo": payload})
>>> class UserSocket(channels.Socket):
...     routes = [("room:*", Room)]
>>> endpoint = channels.Endpoint(UserSocket, path="/socket")

Serve ``endpoint`` with uvicorn (inside a node: ``await endpoint.start()``, or
``Endpoint(..., start_node=beamish.runtime.start)``); phoenix.js connects to
``new Socket("ws://host/socket")``. ``docs/channels.md`` is the guide.
"""

from .._public import present_as as _present_as
from ._channel import Channel as Channel
from ._channel import ChannelServer as ChannelServer
from ._channel import ChannelSocket as ChannelSocket
from ._channel import Error as Error
from ._channel import Reply as Reply
from ._channel import ReplyRef as ReplyRef
from ._channel import error as error
from ._channel import ok as ok
from ._channel import reply as reply
from ._endpoint import Endpoint as Endpoint
from ._errors import ProtocolError as ProtocolError
from ._errors import Refused as Refused
from ._fastlane import Outgoing as Outgoing
from ._fastlane import broadcast as broadcast
from ._fastlane import broadcast_from as broadcast_from
from ._fastlane import local_broadcast as local_broadcast
from ._fastlane import local_subscribers as local_subscribers
from ._longpoll import LONGPOLL_LIMIT as LONGPOLL_LIMIT
from ._outbox import Outbox as Outbox
from ._presence import presence_diff as presence_diff
from ._presence import push_presence_state as push_presence_state
from ._presence import track as track
from ._presence import untrack as untrack
from ._presence import update as update
from ._registry import lookup as lookup
from ._serializer import V1_SERIALIZER as V1_SERIALIZER
from ._serializer import V2_SERIALIZER as V2_SERIALIZER
from ._serializer import Message as Message
from ._serializer import V1Serializer as V1Serializer
from ._serializer import V2Serializer as V2Serializer
from ._serializer import serializer_for as serializer_for
from ._socket import BAD_INPUT as BAD_INPUT
from ._socket import CONNECT as CONNECT
from ._socket import DISCONNECT as DISCONNECT
from ._socket import OVERFLOW as OVERFLOW
from ._socket import ConnectInfo as ConnectInfo
from ._socket import Socket as Socket
from ._socket import SocketServer as SocketServer
from ._socket import disconnect as disconnect
from ._token import TokenError as TokenError
from ._token import TokenExpired as TokenExpired
from ._token import TokenInvalid as TokenInvalid
from ._token import sign as sign
from ._token import verify as verify

_present_as(__name__, globals())

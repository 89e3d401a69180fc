"""The engine server: one process owns the device and the model, many clients' sessions share it.

`python -m engine serve` (`engine.commands.serve`) builds a `Server`. docs/server.md says how to deploy it and
how it schedules; docs/protocol.md is the protocol it speaks.

- `server`: the socket loop (main thread): receive, decode, dispatch, send; signals and shutdown.
- `dispatch`: every request, answered from the sessions' state; `streams`: running propagates on the socket side.
- `worker`: the thread that owns the model and steps the propagates in turn; `jobs`: what the two threads share.
- `sessions`: sessions, their caps and expiry; `keyframes`, `labels`, `results`: messages to and from arrays.
- `streamed`: frames the client streams, in the order the propagator reads them; `sources`, `roots`: frames on
  the server's disk, confined to the allowed folders.
- `security`: local binds and CurveZMQ; `outgoing`: non-blocking sends; `errors`, `logs`, `config`.
- `launch`: the server as a child process, for benchmarks and tests.
"""

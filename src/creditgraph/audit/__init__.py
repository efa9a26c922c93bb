"""The tamper-evident audit log: commitments only, in the formats of the transparency-log world.

Pure modules here take and return bytes and plain values, so any partner can check the log
with no database: RFC 9162 Merkle hashing and proofs, C2SP signed notes and checkpoints
(Ed25519), tiles, receipts and witness cosignatures. Storage and serving live at the edge.

Import from the submodules (``from creditgraph.audit.note import sign``): the package
re-exports nothing.
"""

//! An object store that fails on command, for fault-injection tests (being written).

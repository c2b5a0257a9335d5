//! Rate limits (requests/s, bytes/s) toward the bucket and the chunk store (being written).

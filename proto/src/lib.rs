//! Wire protocol (placeholder until the sync work lands).

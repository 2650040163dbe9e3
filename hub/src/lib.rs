//! Sync hub (placeholder until the sync work lands).

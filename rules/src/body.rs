//! Body matching (stub: to be written).

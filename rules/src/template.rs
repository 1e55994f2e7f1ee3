//! Response templates (stub: to be written).

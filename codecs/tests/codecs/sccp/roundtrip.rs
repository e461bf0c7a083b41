//! Property round trips: typed values encode and decode back to themselves in every version band, and
//! any bytes that decode re-encode to the same bytes.

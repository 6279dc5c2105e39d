//! Quotes: a lead's job priced line by line (cabinets, sheet goods, edge
//! banding, hardware, finishing, labour, installation, delivery), with
//! server-computed totals, a lifecycle and revisions.

pub mod accept;
pub mod input;
pub mod model;
pub mod routes;
pub mod store;
pub mod totals;

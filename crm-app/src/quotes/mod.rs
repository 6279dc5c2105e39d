//! Quotes: a lead's job priced line by line (cabinets, sheet goods, edge
//! banding, hardware, finishing, labour, installation, delivery), with
//! server-computed totals, a lifecycle and revisions.
//!
//! [`domain`] (content and reads) and [`lifecycle`] (send, accept, reject,
//! revise) hold the rules every front end calls; [`routes`] is the JSON
//! API over them; [`store`] is the SQL; [`model`] the rows and their closed
//! sets, [`view`] the quote as shown, [`body`] and [`input`] the request
//! bodies and their checks, [`totals`] the arithmetic.

pub mod body;
pub mod domain;
pub mod error;
pub mod input;
pub mod lifecycle;
pub mod model;
pub mod routes;
pub mod store;
pub mod totals;
pub mod view;

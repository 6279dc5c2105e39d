//! Leads: prospective jobs (a kitchen, a closet, a built-in) moving through
//! a status pipeline, with their status history and timeline.
//!
//! [`routes`] reads a request and calls one function of [`domain`], which
//! holds the rules and reaches the database through [`store`]; [`model`]
//! is a lead as stored and as shown, [`kinds`] its closed sets of values,
//! [`input`] what a client writes, [`pipeline`] the allowed moves.

pub mod domain;
pub mod import;
pub mod input;
pub mod kinds;
pub mod model;
pub mod pipeline;
pub mod routes;
pub mod store;

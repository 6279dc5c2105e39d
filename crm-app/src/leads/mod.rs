//! Leads: prospective jobs (a kitchen, a closet, a built-in) moving through
//! a status pipeline, with their status history and timeline.

pub mod domain;
pub mod input;
pub mod model;
pub mod pipeline;
pub mod routes;
pub mod store;

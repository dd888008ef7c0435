//! chaty-tui's tests: `App::update` driven by keys and frames, screens as
//! snapshots, and two clients against a real server.

mod app;
mod conversation;
mod e2e;
mod people;
mod screens;
mod support;

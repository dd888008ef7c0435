//! chaty-tui's tests: `App::update` driven by keys and frames, screens as
//! snapshots, and two clients against a real server.

mod activity;
mod app;
mod cli;
mod conversation;
mod e2e;
mod invite;
mod local;
mod looks;
mod media;
mod moderation;
mod notify;
mod people;
mod pty;
mod retry;
mod screens;
mod support;
mod tls;
mod writing;

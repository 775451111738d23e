//! Each function of the cross-function tests, assembled as its `main` assembles it, from the
//! fixture's parts: the one place these tests build a `Deps`.
#![allow(dead_code, clippy::unwrap_used)]

use shared::testing::Fixture;

pub fn register(f: &Fixture) -> register::Deps {
    let settings = register::Settings::from_vars(f.vars()).unwrap();
    register::Deps::build(settings, f.store(), f.clock()).unwrap()
}

pub fn login(f: &Fixture) -> login::Deps {
    let settings = login::Settings::from_vars(f.vars()).unwrap();
    login::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

pub fn refresh(f: &Fixture) -> refresh::Deps {
    let settings = refresh::Settings::from_vars(f.vars()).unwrap();
    refresh::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

pub fn logout(f: &Fixture) -> logout::Deps {
    let settings = logout::Settings::from_vars(f.vars()).unwrap();
    logout::Deps::build(settings, f.store(), f.keys(), f.clock()).unwrap()
}

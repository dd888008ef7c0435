//! The frame parser on arbitrary input: never panics, and whatever it accepts
//! survives a round trip through its own JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(request) = chaty_proto::parse_client(text) {
        let again = chaty_proto::parse_client(&request.frame.to_json(request.reference.as_deref()))
            .expect("a frame we accepted must parse again from our own JSON");
        assert_eq!(again, request);
    }
});

//! The zero-copy decoder on arbitrary bytes: never panics; whatever it
//! accepts, every accessor reads and converts without panicking, agrees
//! with prost, and forwards each group byte for byte. Text is not checked
//! for UTF-8 (by design), so only the structure decides.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sls_proto::prost::Message;
use sls_proto::{LogGroup, LogGroupBytes, LogGroupList, LogGroupListView};

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = LogGroupListView::decode(Bytes::copy_from_slice(data)) {
        let mut n = 0usize;
        for group in &view {
            n += group.topic().map_or(0, |t| t.len()) + group.tags().count();
            for log in group.logs() {
                n += log.time() as usize % 3 + log.time_ns().is_some() as usize;
                n += log
                    .contents()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            }
        }
        std::hint::black_box(n);
        let owned = LogGroupList::decode(data).expect("the view accepted what prost refuses");
        assert_eq!(view.to_message(), owned);
        for (group, owned) in view.groups().zip(&owned.log_groups) {
            assert_eq!(LogGroup::decode(group.encoded()).ok().as_ref(), Some(owned));
        }
    }
    if let Ok(group) = LogGroupBytes::decode(Bytes::copy_from_slice(data)) {
        std::hint::black_box(group.view().to_message());
    }
});

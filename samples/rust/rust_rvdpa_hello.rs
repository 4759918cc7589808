// SPDX-License-Identifier: GPL-2.0

//! A module that proves the rvdpa build pipeline end to end.
//!
//! It is built from this repository's overlay on the pinned kernel, loaded in
//! the test guest with `modprobe`, and checked by the `vdpa` kselftests: the
//! value it prints depends on its `terms` parameter, so the test can tell that
//! this very code ran with the parameter it was given.

use kernel::prelude::*;

module! {
    type: RvdpaHello,
    name: "rust_rvdpa_hello",
    authors: ["rvdpa developers"],
    description: "rvdpa build pipeline sample",
    license: "GPL",
    params: {
        terms: u32 {
            default: 10,
            description: "How many terms of the triangular sum to compute (at most 1000)",
        },
    },
}

struct RvdpaHello {
    terms: u32,
}

/// Returns `1 + 2 + ... + n`, computed term by term in a kernel vector.
fn triangular_sum(n: u32) -> Result<u64> {
    let mut values = KVec::with_capacity(n as usize, GFP_KERNEL)?;
    for i in 1..=n {
        values.push(u64::from(i), GFP_KERNEL)?;
    }
    Ok(values.iter().sum())
}

impl kernel::Module for RvdpaHello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let terms = *module_parameters::terms.value();
        if terms > 1000 {
            pr_err!("terms={} is out of range (at most 1000)\n", terms);
            return Err(EINVAL);
        }
        let sum = triangular_sum(terms)?;
        pr_info!("loaded: terms={} sum={}\n", terms, sum);
        Ok(RvdpaHello { terms })
    }
}

impl Drop for RvdpaHello {
    fn drop(&mut self) {
        pr_info!("unloaded: terms={}\n", self.terms);
    }
}

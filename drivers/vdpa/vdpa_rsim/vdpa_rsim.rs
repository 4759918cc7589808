// SPDX-License-Identifier: GPL-2.0

//! vDPA device simulator, in Rust.
//!
//! Software vDPA devices for tests and for users without vDPA hardware,
//! created with iproute2's `vdpa dev add` on the management devices this
//! module registers:
//!
//! - `faux/vdpa_rsim_net`: a net loopback (frames sent come back);
//! - `faux/vdpa_rsim_blk`: a 128 MiB RAM disk.
//!
//! A generic core ([`sim`]) does the vDPA ops and runs a worker per device on
//! a workqueue the module owns; a device type ([`net`], [`blk`]) says what the device
//! does with its queues.

use kernel::{
    faux,
    prelude::*,
    vdpa::{
        DmaModel,
        MgmtRegistration, //
    },
    workqueue::DrainAfter,
};

mod blk;
mod net;
mod sim;

module! {
    type: RsimModule,
    name: "vdpa_rsim",
    authors: ["rvdpa developers"],
    description: "vDPA device simulator in Rust",
    license: "GPL",
    params: {
        batch_mapping: u32 {
            default: 1,
            description: "1: take mappings as whole IOTLBs (set_map); 0: one at a time (dma_map)",
        },
        max_iotlb_entries: u32 {
            default: 2048,
            description: "Maximum number of IOTLB entries per address space (at least 2)",
        },
    },
}

/// The management devices and their parents.
#[pin_data]
struct Devices {
    #[pin]
    net: MgmtRegistration<net::NetMgmt>,
    #[pin]
    blk: MgmtRegistration<blk::BlkMgmt>,
    // The parents of the management devices; dropped after them.
    net_parent: faux::Registration,
    blk_parent: faux::Registration,
}

/// The module. Dropping it removes the management devices, and with them
/// their devices (workers still queued then find their device removed), then
/// drains the queue: no worker runs once the module is gone.
struct RsimModule {
    _devices: DrainAfter<Pin<KBox<Devices>>>,
}

impl kernel::Module for RsimModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let max_iotlb_entries = *module_parameters::max_iotlb_entries.value();
        if max_iotlb_entries < 2 {
            pr_err!(
                "max_iotlb_entries={} is too small (at least 2)\n",
                max_iotlb_entries
            );
            return Err(EINVAL);
        }
        let dma = if *module_parameters::batch_mapping.value() != 0 {
            DmaModel::Batch
        } else {
            DmaModel::Incremental
        };
        let queue = sim::new_queue()?;
        let (qn, qb) = (queue.clone(), queue.clone());
        let devices = KBox::pin_init(
            try_pin_init!(Devices {
                net_parent: faux::Registration::new(c"vdpa_rsim_net", None)?,
                net <- MgmtRegistration::new(
                    net_parent.as_ref(),
                    net::NetMgmt::ATTRS,
                    Ok::<_, Error>(net::NetMgmt(sim::MgmtCommon {
                        queue: qn,
                        max_iotlb_entries,
                        dma,
                    })),
                ),
                blk_parent: faux::Registration::new(c"vdpa_rsim_blk", None)?,
                blk <- MgmtRegistration::new(
                    blk_parent.as_ref(),
                    blk::BlkMgmt::ATTRS,
                    Ok::<_, Error>(blk::BlkMgmt(sim::MgmtCommon {
                        queue: qb,
                        max_iotlb_entries,
                        dma,
                    })),
                ),
            }),
            GFP_KERNEL,
        )?;
        Ok(RsimModule {
            _devices: DrainAfter::new(queue, devices),
        })
    }
}

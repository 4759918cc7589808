// SPDX-License-Identifier: GPL-2.0

//! The simulated net device: a loopback. Frames sent on the TX queue come
//! back on the RX queue when their destination is the device's MAC address,
//! broadcast or multicast. A control virtqueue (its own group, so it can get
//! its own address space) takes MAC address changes.

use crate::sim::{
    self,
    Core,
    DeviceType,
    MgmtCommon,
    Sim, //
};
use kernel::{
    prelude::*,
    vdpa::{
        self,
        ConfigAttrs,
        DevSetConfig,
        MgmtAttrs,
        MgmtRegistration,
        UnregisteredDevice,
        VendorStats, //
    },
    virtio::{
        self,
        net::{
            CTRL_MAC,
            CTRL_MAC_ADDR_SET,
            ERR as CTRL_ERR,
            F_CTRL_MAC_ADDR,
            F_CTRL_VQ,
            F_MAC,
            F_MTU,
            F_STATUS,
            OK as CTRL_OK,
            S_LINK_UP, //
        },
    },
};

/// The features the simulated net device can offer.
pub(crate) const FEATURES: u64 =
    sim::COMMON_FEATURES | F_MTU | F_MAC | F_STATUS | F_CTRL_VQ | F_CTRL_MAC_ADDR;

const RXQ: usize = 0;
const TXQ: usize = 1;
const CVQ: usize = 2;

/// Frames are copied from the TX buffers to the RX ones in chunks this big.
const CHUNK: usize = 2048;

/// Counters, as `vdpa dev vstats show` reports them.
#[derive(Default)]
struct Stats {
    rx_pkts: u64,
    rx_bytes: u64,
    rx_errors: u64,
    rx_overruns: u64,
    rx_drops: u64,
    tx_pkts: u64,
    tx_bytes: u64,
    tx_errors: u64,
    cvq_requests: u64,
    cvq_successes: u64,
    cvq_errors: u64,
}

/// The net device's state.
pub(crate) struct NetState {
    mac: [u8; 6],
    mtu: u16,
    stats: Stats,
    chunk: KVec<u8>,
}

/// The net device type.
pub(crate) struct Net;

impl Net {
    /// The length of the virtio-net header the driver puts before a frame.
    fn hdr_len(features: u64) -> usize {
        if features & virtio::features::VERSION_1 != 0 {
            12
        } else {
            10
        }
    }

    /// Whether a frame to `dst` is received: the device's MAC, broadcast and
    /// multicast are, any other unicast address is not.
    fn accepts(state: &NetState, dst: &[u8]) -> bool {
        dst[0] & 1 != 0 || dst == state.mac
    }

    /// Handles at most [`sim::BUDGET`] commands of the control queue.
    /// Returns true when the budget ran out, with commands perhaps left.
    fn handle_cvq(core: &mut Core<Self>) -> bool {
        if core.features & F_CTRL_VQ == 0 || !core.vqs[CVQ].ready {
            return false;
        }
        let core = &mut *core;
        for _ in 0..sim::BUDGET {
            let vq = &mut core.vqs[CVQ];
            let head = match vq.ring.getdesc(&mut vq.riov, &mut vq.wiov, GFP_KERNEL) {
                Ok(Some(head)) => head,
                Ok(None) => return false,
                Err(_) => {
                    core.dev.stats.cvq_errors += 1;
                    return false;
                }
            };
            core.dev.stats.cvq_requests += 1;
            let mut hdr = [0u8; 2];
            let mut ack = CTRL_ERR;
            if vq.ring.pull(&mut vq.riov, &mut hdr) == Ok(2) && hdr == [CTRL_MAC, CTRL_MAC_ADDR_SET]
            {
                let mut mac = [0u8; 6];
                if vq.ring.pull(&mut vq.riov, &mut mac) == Ok(6) {
                    core.dev.mac = mac;
                    ack = CTRL_OK;
                }
            }
            if ack == CTRL_OK {
                core.dev.stats.cvq_successes += 1;
            } else {
                core.dev.stats.cvq_errors += 1;
            }
            let written = vq.ring.push(&mut vq.wiov, &[ack]).unwrap_or(0);
            vq.complete(head, written as u32);
        }
        true
    }

    /// Moves one frame from TX to RX. Returns false when there is nothing to
    /// do until the driver adds buffers.
    fn loop_one(core: &mut Core<Self>) -> bool {
        let features = core.features;
        let hdr = Self::hdr_len(features);
        let (rx, tx) = {
            let (a, b) = core.vqs.split_at_mut(TXQ);
            (&mut a[RXQ], &mut b[0])
        };
        let state = &mut core.dev;

        let tx_head = match tx.ring.getdesc(&mut tx.riov, &mut tx.wiov, GFP_KERNEL) {
            Ok(Some(head)) => head,
            Ok(None) => return false,
            Err(_) => {
                state.stats.tx_errors += 1;
                return false;
            }
        };
        let len = tx.riov.len();
        if len < hdr + 6 || len > hdr + usize::from(state.mtu) + 18 {
            // Too short for a header, or longer than the MTU allows.
            state.stats.tx_errors += 1;
            tx.complete(tx_head, 0);
            return true;
        }
        // The first chunk holds the header and the destination address.
        let first = len.min(CHUNK);
        let got = tx.ring.pull(&mut tx.riov, &mut state.chunk[..first]);
        if got != Ok(first) {
            state.stats.tx_errors += 1;
            tx.complete(tx_head, 0);
            return true;
        }
        state.stats.tx_pkts += 1;
        state.stats.tx_bytes += len as u64;
        if !Self::accepts(state, &state.chunk[hdr..hdr + 6]) {
            state.stats.rx_drops += 1;
            tx.complete(tx_head, 0);
            return true;
        }

        let rx_head = match rx.ring.getdesc(&mut rx.riov, &mut rx.wiov, GFP_KERNEL) {
            Ok(Some(head)) => head,
            Ok(None) => {
                // No receive buffer yet: leave the frame in TX until the
                // driver adds one (it kicks RX), instead of dropping it.
                tx.ring
                    .set_last_avail_idx(tx.ring.last_avail_idx().wrapping_sub(1));
                state.stats.tx_pkts -= 1;
                state.stats.tx_bytes -= len as u64;
                state.stats.rx_overruns += 1;
                return false;
            }
            Err(_) => {
                state.stats.rx_errors += 1;
                tx.complete(tx_head, 0);
                return false;
            }
        };
        if rx.wiov.len() < len {
            state.stats.rx_errors += 1;
            rx.complete(rx_head, 0);
            tx.complete(tx_head, 0);
            return true;
        }
        let mut written = rx
            .ring
            .push(&mut rx.wiov, &state.chunk[..first])
            .unwrap_or_default();
        let mut left = len - first;
        while left > 0 && written > 0 {
            let n = left.min(CHUNK);
            match tx.ring.pull(&mut tx.riov, &mut state.chunk[..n]) {
                Ok(m) if m == n => {}
                _ => break,
            }
            match rx.ring.push(&mut rx.wiov, &state.chunk[..n]) {
                Ok(m) if m == n => written += m,
                _ => break,
            }
            left -= n;
        }
        if written == len {
            state.stats.rx_pkts += 1;
            state.stats.rx_bytes += len as u64;
            rx.complete(rx_head, len as u32);
        } else {
            state.stats.rx_errors += 1;
            rx.complete(rx_head, 0);
        }
        tx.complete(tx_head, 0);
        true
    }
}

impl DeviceType for Net {
    const DEVICE_ID: u32 = virtio::id::NET;
    const NVQS: u16 = 3;
    const NGROUPS: u32 = 2;
    const NAS: u32 = 2;
    const CONFIG_SIZE: usize = 24;

    type State = NetState;

    fn vq_group(idx: u16) -> u32 {
        // RX and TX in group 0, the control queue in group 1.
        u32::from(idx as usize == CVQ)
    }

    fn read_config(state: &NetState, _features: u64, out: &mut [u8]) {
        out[0..6].copy_from_slice(&state.mac);
        out[6..8].copy_from_slice(&S_LINK_UP.to_le_bytes());
        out[8..10].copy_from_slice(&1u16.to_le_bytes());
        out[10..12].copy_from_slice(&state.mtu.to_le_bytes());
    }

    fn write_config(state: &mut NetState, config: &[u8]) {
        // Only the MAC address is writable (legacy drivers set it this way).
        state.mac.copy_from_slice(&config[0..6]);
    }

    fn process(core: &mut Core<Self>) -> bool {
        // Each queue has its own budget; either one spent means another run.
        let cvq_more = Self::handle_cvq(core);
        if !core.vqs[RXQ].ready || !core.vqs[TXQ].ready {
            return cvq_more;
        }
        for _ in 0..sim::BUDGET {
            if !Self::loop_one(core) {
                return cvq_more;
            }
        }
        true
    }

    fn stats(state: &NetState, idx: u16, out: &mut VendorStats<'_>) -> Result {
        let s = &state.stats;
        match idx as usize {
            RXQ => {
                out.put(c"rx packets", s.rx_pkts)?;
                out.put(c"rx bytes", s.rx_bytes)?;
                out.put(c"rx errors", s.rx_errors)?;
                out.put(c"rx overruns", s.rx_overruns)?;
                out.put(c"rx drops", s.rx_drops)
            }
            TXQ => {
                out.put(c"tx packets", s.tx_pkts)?;
                out.put(c"tx bytes", s.tx_bytes)?;
                out.put(c"tx errors", s.tx_errors)?;
                out.put(c"tx drops", 0)
            }
            _ => {
                out.put(c"cvq requests", s.cvq_requests)?;
                out.put(c"cvq successes", s.cvq_successes)?;
                out.put(c"cvq errors", s.cvq_errors)
            }
        }
    }
}

/// The `vdpa_rsim_net` management device.
pub(crate) struct NetMgmt(pub(crate) MgmtCommon);

impl NetMgmt {
    /// What the management device creates.
    pub(crate) const ATTRS: MgmtAttrs = MgmtAttrs {
        device_id: virtio::id::NET,
        config_attrs: ConfigAttrs::NET_MAC
            .union(ConfigAttrs::NET_MTU)
            .union(ConfigAttrs::FEATURES),
        supported_features: FEATURES,
        max_supported_vqs: 3,
    };
}

#[vtable]
impl vdpa::MgmtDriver for NetMgmt {
    type Device = Sim<Net>;

    fn dev_add(
        mgmt: &MgmtRegistration<Self>,
        name: &CStr,
        config: &DevSetConfig,
    ) -> Result<UnregisteredDevice<Sim<Net>>> {
        let mtu = config.mtu.unwrap_or(1500);
        if !(68..=9000).contains(&mtu) {
            return Err(EINVAL);
        }
        let mut chunk = KVec::with_capacity(CHUNK, GFP_KERNEL)?;
        chunk.resize(CHUNK, 0, GFP_KERNEL)?;
        let state = NetState {
            mac: config.mac.unwrap_or([0; 6]),
            mtu,
            stats: Stats::default(),
            chunk,
        };
        mgmt.0
            .create::<Net>(mgmt.parent(), name, config.device_features, FEATURES, state)
    }

    fn dev_del(_mgmt: &MgmtRegistration<Self>, dev: &vdpa::Device<Sim<Net>>) {
        dev.remove();
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The simulated block device: a RAM disk of 128 MiB per device, with read,
//! write, flush, get-id, discard and write-zeroes. Every request is checked
//! against the disk's capacity, its own descriptor sizes and the limits the
//! config space advertises; a bad one gets an error status, never an access
//! outside the disk. A worker run handles a bounded amount of work (the
//! device lock is held throughout) and requeues itself for the rest.

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
        UnregisteredDevice, //
    },
    virtio::{
        self,
        blk::{
            F_BLK_SIZE,
            F_DISCARD,
            F_FLUSH,
            F_MQ,
            F_SEG_MAX,
            F_SIZE_MAX,
            F_TOPOLOGY,
            F_WRITE_ZEROES,
            S_IOERR,
            S_OK,
            S_UNSUPP,
            T_DISCARD,
            T_FLUSH,
            T_GET_ID,
            T_IN,
            T_OUT,
            T_WRITE_ZEROES,
            WRITE_ZEROES_FLAG_UNMAP, //
        },
    },
};

/// The features the simulated block device can offer.
pub(crate) const FEATURES: u64 = sim::COMMON_FEATURES
    | F_SIZE_MAX
    | F_SEG_MAX
    | F_BLK_SIZE
    | F_FLUSH
    | F_TOPOLOGY
    | F_MQ
    | F_DISCARD
    | F_WRITE_ZEROES;

const SECTOR: usize = 512;
/// The capacity, in sectors (128 MiB).
const CAPACITY: u64 = 0x40000;
/// The largest data segment (`size_max`, advertised with `VIRTIO_BLK_F_SIZE_MAX`).
const SIZE_MAX: u32 = 4096;
/// The most data segments in a request (`seg_max`, `VIRTIO_BLK_F_SEG_MAX`).
const SEG_MAX: u32 = 32;
/// The most data bytes a read or write carries: `seg_max` segments of
/// `size_max` bytes (128 KiB). The driver keeps to it, as Linux's
/// virtio_blk does (it sets its queue's segment limits from the two); the
/// device fails a larger request with `VIRTIO_BLK_S_IOERR`, however the
/// bytes are laid out in descriptors (`VIRTIO_F_ANY_LAYOUT`).
const REQ_MAX: usize = SIZE_MAX as usize * SEG_MAX as usize;
/// The most sectors a write-zeroes clears (1 MiB), advertised as
/// `max_write_zeroes_sectors`; more gets `VIRTIO_BLK_S_IOERR`.
const MAX_WRITE_ZEROES_SECTORS: u32 = 2048;
/// The most requests a worker run handles.
const BUDGET: u32 = 16;
/// The most bytes a worker run copies or clears before it requeues itself
/// (at most a request more than this, 128 KiB or 1 MiB: every request is
/// bounded).
const RUN_BYTES: usize = 1 << 20;

/// The device id string `VIRTIO_BLK_T_GET_ID` returns.
const ID: &[u8; virtio::blk::ID_BYTES] = b"vdpa_rsim_blk\0\0\0\0\0\0\0";

/// The block device's state: its disk.
pub(crate) struct BlkState {
    disk: KVVec<u8>,
}

/// The block device type.
pub(crate) struct Blk;

impl Blk {
    /// Returns the byte range of a read or write of `len` bytes at `sector`,
    /// if it is inside the disk and not larger than [`REQ_MAX`].
    fn data_range(sector: u64, len: usize) -> Option<core::ops::Range<usize>> {
        if len > REQ_MAX {
            return None;
        }
        Self::range(sector, len)
    }

    /// Returns the byte range of `len` bytes at `sector`, if it is inside
    /// the disk.
    fn range(sector: u64, len: usize) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(sector.checked_mul(SECTOR as u64)?).ok()?;
        let end = start.checked_add(len)?;
        (end <= CAPACITY as usize * SECTOR).then_some(start..end)
    }

    /// Handles one request. Returns the number of bytes it copied or
    /// cleared, or `None` when the queue has nothing (more) to do until the
    /// driver kicks it.
    fn handle_one(core: &mut Core<Self>) -> Option<usize> {
        let vq = &mut core.vqs[0];
        let disk = &mut core.dev.disk;
        // Not `GFP_KERNEL`: this may be the I/O that memory reclaim waits
        // for (a file system or swap on the disk, through virtio_vdpa).
        let head = match vq.ring.getdesc(&mut vq.riov, &mut vq.wiov, GFP_NOIO) {
            Ok(Some(head)) => head,
            // A malformed chain stops the queue, as it would stop a device.
            Ok(None) | Err(_) => return None,
        };
        // A request has a 16-byte header to read and a status byte to write.
        let (out_len, in_len) = (vq.riov.len(), vq.wiov.len());
        if out_len < 16 || in_len < 1 {
            vq.complete(head, 0);
            return Some(0);
        }
        let mut hdr = [0u8; 16];
        if vq.ring.pull(&mut vq.riov, &mut hdr) != Ok(16) {
            vq.complete(head, 0);
            return Some(0);
        }
        let ty = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let mut sector_bytes = [0u8; 8];
        sector_bytes.copy_from_slice(&hdr[8..16]);
        let sector = u64::from_le_bytes(sector_bytes);
        let to_pull = out_len - 16;
        let to_push = in_len - 1;
        // The bytes copied or cleared, for the run's budget.
        let mut work = 0;

        let status = match ty {
            T_IN => match Self::data_range(sector, to_push) {
                Some(r) => {
                    work = to_push;
                    match vq.ring.push(&mut vq.wiov, &disk[r]) {
                        Ok(n) if n == to_push => S_OK,
                        _ => S_IOERR,
                    }
                }
                None => S_IOERR,
            },
            T_OUT => match Self::data_range(sector, to_pull) {
                Some(r) => {
                    work = to_pull;
                    match vq.ring.pull(&mut vq.riov, &mut disk[r]) {
                        Ok(n) if n == to_pull => S_OK,
                        _ => S_IOERR,
                    }
                }
                None => S_IOERR,
            },
            T_FLUSH if sector == 0 => S_OK,
            T_GET_ID if sector == 0 => {
                let n = to_push.min(ID.len());
                match vq.ring.push(&mut vq.wiov, &ID[..n]) {
                    Ok(_) => S_OK,
                    Err(_) => S_IOERR,
                }
            }
            T_DISCARD | T_WRITE_ZEROES if sector == 0 => {
                let mut seg = [0u8; 16];
                if to_pull != 16 || vq.ring.pull(&mut vq.riov, &mut seg) != Ok(16) {
                    S_IOERR
                } else {
                    let mut s = [0u8; 8];
                    s.copy_from_slice(&seg[0..8]);
                    let start = u64::from_le_bytes(s);
                    let num = u32::from_le_bytes([seg[8], seg[9], seg[10], seg[11]]);
                    let flags = u32::from_le_bytes([seg[12], seg[13], seg[14], seg[15]]);
                    let allowed = if ty == T_DISCARD {
                        0
                    } else {
                        WRITE_ZEROES_FLAG_UNMAP
                    };
                    if flags & !allowed != 0 {
                        S_UNSUPP
                    } else if ty == T_WRITE_ZEROES && num > MAX_WRITE_ZEROES_SECTORS {
                        S_IOERR
                    } else {
                        match Self::range(start, num as usize * SECTOR) {
                            Some(r) => {
                                if ty == T_WRITE_ZEROES {
                                    work = r.len();
                                    disk[r].fill(0);
                                }
                                S_OK
                            }
                            None => S_IOERR,
                        }
                    }
                }
            }
            T_FLUSH | T_GET_ID | T_DISCARD | T_WRITE_ZEROES => S_IOERR,
            _ => S_UNSUPP,
        };

        // The status goes in the last byte of the writable buffers, however
        // far a data transfer that failed half-way got: skip to it from
        // where the cursor is, not from where a full transfer would be.
        let left = vq.wiov.len();
        let data = in_len - left;
        vq.wiov.advance(left.saturating_sub(1));
        let written = match vq.ring.push(&mut vq.wiov, &[status]) {
            Ok(1) => data + 1,
            _ => data,
        };
        vq.complete(head, written as u32);
        Some(work)
    }
}

impl DeviceType for Blk {
    const DEVICE_ID: u32 = virtio::id::BLOCK;
    const NVQS: u16 = 1;
    const NGROUPS: u32 = 1;
    const NAS: u32 = 1;
    const CONFIG_SIZE: usize = 96;

    type State = BlkState;

    fn read_config(_state: &BlkState, _features: u64, out: &mut [u8]) {
        let mut put = |off: usize, bytes: &[u8]| out[off..off + bytes.len()].copy_from_slice(bytes);
        put(0, &CAPACITY.to_le_bytes());
        put(8, &SIZE_MAX.to_le_bytes());
        put(12, &SEG_MAX.to_le_bytes());
        put(20, &(SECTOR as u32).to_le_bytes());
        put(26, &1u16.to_le_bytes());
        put(28, &1u32.to_le_bytes());
        put(34, &1u16.to_le_bytes());
        put(36, &u32::MAX.to_le_bytes());
        put(40, &1u32.to_le_bytes());
        put(44, &(SECTOR as u32).to_le_bytes());
        put(48, &MAX_WRITE_ZEROES_SECTORS.to_le_bytes());
        put(52, &1u32.to_le_bytes());
    }

    fn process(core: &mut Core<Self>) -> bool {
        if !core.vqs[0].ready {
            return false;
        }
        let mut bytes = 0;
        for _ in 0..BUDGET {
            match Self::handle_one(core) {
                None => return false,
                Some(n) => bytes += n,
            }
            if bytes >= RUN_BYTES {
                break;
            }
        }
        true
    }
}

/// The `vdpa_rsim_blk` management device.
pub(crate) struct BlkMgmt(pub(crate) MgmtCommon);

impl BlkMgmt {
    /// What the management device creates.
    pub(crate) const ATTRS: MgmtAttrs = MgmtAttrs {
        device_id: virtio::id::BLOCK,
        config_attrs: ConfigAttrs::FEATURES,
        supported_features: FEATURES,
        max_supported_vqs: 1,
    };
}

#[vtable]
impl vdpa::MgmtDriver for BlkMgmt {
    type Device = Sim<Blk>;

    fn dev_add(
        mgmt: &MgmtRegistration<Self>,
        name: &CStr,
        config: &DevSetConfig,
    ) -> Result<UnregisteredDevice<Sim<Blk>>> {
        let disk = KVVec::from_elem(0u8, CAPACITY as usize * SECTOR, GFP_KERNEL)?;
        mgmt.0.create::<Blk>(
            mgmt.parent(),
            name,
            config.device_features,
            FEATURES,
            BlkState { disk },
        )
    }

    fn dev_del(_mgmt: &MgmtRegistration<Self>, dev: &vdpa::Device<Sim<Blk>>) {
        dev.remove();
    }
}

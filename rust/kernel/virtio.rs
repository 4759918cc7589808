// SPDX-License-Identifier: GPL-2.0

//! The virtio vocabulary: device ids, status bits, feature bits and the
//! numbers of the device types' protocols, from the kernel's uAPI headers.
//!
//! Drivers of virtio devices (vDPA parents, their samples and their tests)
//! name these instead of typing `1 << 32` or `1 // VIRTIO_ID_NET`.
//!
//! C headers: [`include/uapi/linux/virtio_ids.h`](srctree/include/uapi/linux/virtio_ids.h),
//! [`include/uapi/linux/virtio_config.h`](srctree/include/uapi/linux/virtio_config.h),
//! [`include/uapi/linux/virtio_net.h`](srctree/include/uapi/linux/virtio_net.h),
//! [`include/uapi/linux/virtio_blk.h`](srctree/include/uapi/linux/virtio_blk.h),
//! [`include/uapi/linux/virtio_pci.h`](srctree/include/uapi/linux/virtio_pci.h).

/// The mask of feature bit `bit`, as the 64-bit feature words carry it.
pub const fn feature(bit: u32) -> u64 {
    1u64 << bit
}

/// Device ids (virtio 1.x, section 5).
pub mod id {
    use crate::bindings;

    /// A network device.
    pub const NET: u32 = bindings::VIRTIO_ID_NET;
    /// A block device.
    pub const BLOCK: u32 = bindings::VIRTIO_ID_BLOCK;
}

/// Device status bits (virtio 1.x, section 2.1).
pub mod status {
    use crate::bindings;

    /// The guest noticed the device.
    pub const ACKNOWLEDGE: u8 = bindings::VIRTIO_CONFIG_S_ACKNOWLEDGE as u8;
    /// The guest knows how to drive the device.
    pub const DRIVER: u8 = bindings::VIRTIO_CONFIG_S_DRIVER as u8;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = bindings::VIRTIO_CONFIG_S_DRIVER_OK as u8;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = bindings::VIRTIO_CONFIG_S_FEATURES_OK as u8;
    /// The device needs a reset.
    pub const NEEDS_RESET: u8 = bindings::VIRTIO_CONFIG_S_NEEDS_RESET as u8;
    /// The driver gave up on the device.
    pub const FAILED: u8 = bindings::VIRTIO_CONFIG_S_FAILED as u8;
}

/// Feature masks of every device type (virtio 1.x, section 6).
pub mod features {
    use super::feature;
    use crate::bindings;

    /// Buffers may be laid out in descriptors any way.
    pub const ANY_LAYOUT: u64 = feature(bindings::VIRTIO_F_ANY_LAYOUT);
    /// A virtio 1.x device (not legacy).
    pub const VERSION_1: u64 = feature(bindings::VIRTIO_F_VERSION_1);
    /// The device reaches memory through a platform translation (an IOMMU,
    /// or the vDPA device's own mappings).
    pub const ACCESS_PLATFORM: u64 = feature(bindings::VIRTIO_F_ACCESS_PLATFORM);
    /// The packed ring layout.
    pub const RING_PACKED: u64 = feature(bindings::VIRTIO_F_RING_PACKED);
    /// Buffers are used in the order they were made available.
    pub const IN_ORDER: u64 = feature(bindings::VIRTIO_F_IN_ORDER);
    /// Doorbell writes carry the available index.
    pub const NOTIFICATION_DATA: u64 = feature(bindings::VIRTIO_F_NOTIFICATION_DATA);
}

/// The network device (virtio 1.x, section 5.1).
pub mod net {
    use super::feature;
    use crate::bindings;

    /// The device reports its maximum MTU.
    pub const F_MTU: u64 = feature(bindings::VIRTIO_NET_F_MTU);
    /// The device has a MAC address.
    pub const F_MAC: u64 = feature(bindings::VIRTIO_NET_F_MAC);
    /// Receive buffers may be merged.
    pub const F_MRG_RXBUF: u64 = feature(bindings::VIRTIO_NET_F_MRG_RXBUF);
    /// The config's status field is valid.
    pub const F_STATUS: u64 = feature(bindings::VIRTIO_NET_F_STATUS);
    /// The device has a control virtqueue.
    pub const F_CTRL_VQ: u64 = feature(bindings::VIRTIO_NET_F_CTRL_VQ);
    /// Several pairs of queues.
    pub const F_MQ: u64 = feature(bindings::VIRTIO_NET_F_MQ);
    /// The MAC address can be set through the control virtqueue.
    pub const F_CTRL_MAC_ADDR: u64 = feature(bindings::VIRTIO_NET_F_CTRL_MAC_ADDR);

    /// The config's status field: the link is up.
    pub const S_LINK_UP: u16 = bindings::VIRTIO_NET_S_LINK_UP as u16;

    /// The control command class of the MAC filter and address.
    pub const CTRL_MAC: u8 = bindings::VIRTIO_NET_CTRL_MAC as u8;
    /// In class [`CTRL_MAC`]: set the MAC address.
    pub const CTRL_MAC_ADDR_SET: u8 = bindings::VIRTIO_NET_CTRL_MAC_ADDR_SET as u8;
    /// A control command's acknowledgement: done.
    pub const OK: u8 = bindings::VIRTIO_NET_OK as u8;
    /// A control command's acknowledgement: refused.
    pub const ERR: u8 = bindings::VIRTIO_NET_ERR as u8;
}

/// The block device (virtio 1.x, section 5.2).
pub mod blk {
    use super::feature;
    use crate::bindings;

    /// The config has the maximum size of a segment.
    pub const F_SIZE_MAX: u64 = feature(bindings::VIRTIO_BLK_F_SIZE_MAX);
    /// The config has the maximum number of segments of a request.
    pub const F_SEG_MAX: u64 = feature(bindings::VIRTIO_BLK_F_SEG_MAX);
    /// The config has the block size.
    pub const F_BLK_SIZE: u64 = feature(bindings::VIRTIO_BLK_F_BLK_SIZE);
    /// Flush requests are supported.
    pub const F_FLUSH: u64 = feature(bindings::VIRTIO_BLK_F_FLUSH);
    /// The config has the topology.
    pub const F_TOPOLOGY: u64 = feature(bindings::VIRTIO_BLK_F_TOPOLOGY);
    /// Several request queues.
    pub const F_MQ: u64 = feature(bindings::VIRTIO_BLK_F_MQ);
    /// Discard requests are supported.
    pub const F_DISCARD: u64 = feature(bindings::VIRTIO_BLK_F_DISCARD);
    /// Write-zeroes requests are supported.
    pub const F_WRITE_ZEROES: u64 = feature(bindings::VIRTIO_BLK_F_WRITE_ZEROES);

    /// Request type: read.
    pub const T_IN: u32 = bindings::VIRTIO_BLK_T_IN;
    /// Request type: write.
    pub const T_OUT: u32 = bindings::VIRTIO_BLK_T_OUT;
    /// Request type: flush.
    pub const T_FLUSH: u32 = bindings::VIRTIO_BLK_T_FLUSH;
    /// Request type: the device's id string.
    pub const T_GET_ID: u32 = bindings::VIRTIO_BLK_T_GET_ID;
    /// Request type: discard.
    pub const T_DISCARD: u32 = bindings::VIRTIO_BLK_T_DISCARD;
    /// Request type: write zeroes.
    pub const T_WRITE_ZEROES: u32 = bindings::VIRTIO_BLK_T_WRITE_ZEROES;

    /// Request status: done.
    pub const S_OK: u8 = bindings::VIRTIO_BLK_S_OK as u8;
    /// Request status: an I/O error.
    pub const S_IOERR: u8 = bindings::VIRTIO_BLK_S_IOERR as u8;
    /// Request status: not supported.
    pub const S_UNSUPP: u8 = bindings::VIRTIO_BLK_S_UNSUPP as u8;

    /// A write-zeroes segment may deallocate the range.
    pub const WRITE_ZEROES_FLAG_UNMAP: u32 = bindings::VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    /// The length of the id string `T_GET_ID` returns.
    pub const ID_BYTES: usize = bindings::VIRTIO_BLK_ID_BYTES as usize;
}

/// The PCI transport of virtio 1.x (section 4.1): the vendor capabilities
/// and the layout of the common configuration structure.
pub mod pci {
    use crate::bindings;
    use core::ops::RangeInclusive;

    /// The PCI device id of a modern function is this plus its virtio
    /// device id (4.1.2.1).
    pub const MODERN_DEVICE_ID_BASE: u16 = 0x1040;
    /// The PCI device ids of transitional functions, which tell their
    /// virtio device id in the subsystem device id (4.1.2.3).
    pub const TRANSITIONAL_DEVICE_IDS: RangeInclusive<u16> = 0x1000..=0x103f;

    /// Capability type: the common configuration.
    pub const CAP_COMMON_CFG: u8 = bindings::VIRTIO_PCI_CAP_COMMON_CFG as u8;
    /// Capability type: the notification (doorbell) region.
    pub const CAP_NOTIFY_CFG: u8 = bindings::VIRTIO_PCI_CAP_NOTIFY_CFG as u8;
    /// Capability type: the ISR status.
    pub const CAP_ISR_CFG: u8 = bindings::VIRTIO_PCI_CAP_ISR_CFG as u8;
    /// Capability type: the device-specific configuration.
    pub const CAP_DEVICE_CFG: u8 = bindings::VIRTIO_PCI_CAP_DEVICE_CFG as u8;

    /// Offsets in a virtio vendor capability.
    pub mod cap {
        use crate::bindings;

        /// The capability's length.
        pub const LEN: usize = bindings::VIRTIO_PCI_CAP_LEN as usize;
        /// The structure's type (`CAP_*_CFG`).
        pub const CFG_TYPE: usize = bindings::VIRTIO_PCI_CAP_CFG_TYPE as usize;
        /// The BAR the structure is in.
        pub const BAR: usize = bindings::VIRTIO_PCI_CAP_BAR as usize;
        /// The structure's offset in its BAR.
        pub const OFFSET: usize = bindings::VIRTIO_PCI_CAP_OFFSET as usize;
        /// The structure's length.
        pub const LENGTH: usize = bindings::VIRTIO_PCI_CAP_LENGTH as usize;
        /// The size of a capability (`struct virtio_pci_cap`).
        pub const SIZE: usize = core::mem::size_of::<bindings::virtio_pci_cap>();
        /// The notification capability's doorbell multiplier, after the
        /// generic fields.
        pub const NOTIFY_MULTIPLIER: usize = SIZE;
        /// The size of the notification capability
        /// (`struct virtio_pci_notify_cap`).
        pub const NOTIFY_SIZE: usize = core::mem::size_of::<bindings::virtio_pci_notify_cap>();
    }

    /// Offsets in the common configuration structure.
    pub mod common {
        use crate::bindings;

        /// `device_feature_select`.
        pub const DFSELECT: usize = bindings::VIRTIO_PCI_COMMON_DFSELECT as usize;
        /// `device_feature`.
        pub const DF: usize = bindings::VIRTIO_PCI_COMMON_DF as usize;
        /// `driver_feature_select`.
        pub const GFSELECT: usize = bindings::VIRTIO_PCI_COMMON_GFSELECT as usize;
        /// `driver_feature`.
        pub const GF: usize = bindings::VIRTIO_PCI_COMMON_GF as usize;
        /// `config_msix_vector`.
        pub const MSIX: usize = bindings::VIRTIO_PCI_COMMON_MSIX as usize;
        /// `num_queues`.
        pub const NUMQ: usize = bindings::VIRTIO_PCI_COMMON_NUMQ as usize;
        /// `device_status`.
        pub const STATUS: usize = bindings::VIRTIO_PCI_COMMON_STATUS as usize;
        /// `config_generation`.
        pub const CFGGENERATION: usize = bindings::VIRTIO_PCI_COMMON_CFGGENERATION as usize;
        /// `queue_select`.
        pub const Q_SELECT: usize = bindings::VIRTIO_PCI_COMMON_Q_SELECT as usize;
        /// `queue_size`.
        pub const Q_SIZE: usize = bindings::VIRTIO_PCI_COMMON_Q_SIZE as usize;
        /// `queue_msix_vector`.
        pub const Q_MSIX: usize = bindings::VIRTIO_PCI_COMMON_Q_MSIX as usize;
        /// `queue_enable`.
        pub const Q_ENABLE: usize = bindings::VIRTIO_PCI_COMMON_Q_ENABLE as usize;
        /// `queue_notify_off`.
        pub const Q_NOFF: usize = bindings::VIRTIO_PCI_COMMON_Q_NOFF as usize;
        /// `queue_desc` (64 bits).
        pub const Q_DESC: usize = bindings::VIRTIO_PCI_COMMON_Q_DESCLO as usize;
        /// `queue_driver` (64 bits).
        pub const Q_AVAIL: usize = bindings::VIRTIO_PCI_COMMON_Q_AVAILLO as usize;
        /// `queue_device` (64 bits).
        pub const Q_USED: usize = bindings::VIRTIO_PCI_COMMON_Q_USEDLO as usize;
        /// The size of the structure up to `queue_device` (virtio 1.0).
        pub const LEN: usize = bindings::VIRTIO_PCI_COMMON_Q_USEDHI as usize + 4;
    }
}

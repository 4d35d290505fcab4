using System.Runtime.InteropServices;

namespace UserTcp.Interop;

/// <summary>struct sock_filter (<c>&lt;linux/filter.h&gt;</c>): one classic BPF instruction.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct SockFilter(ushort code, byte jumpIfTrue, byte jumpIfFalse, uint k)
{
    public readonly ushort Code = code;
    public readonly byte JumpIfTrue = jumpIfTrue;
    public readonly byte JumpIfFalse = jumpIfFalse;
    public readonly uint K = k;
}

/// <summary>struct sock_fprog (<c>&lt;linux/filter.h&gt;</c>): a classic BPF program as SO_ATTACH_FILTER takes it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SockFprog
{
    public ushort Length;
    public SockFilter* Filter;
}

/// <summary>The classic BPF programs UserTcp attaches to its sockets (what Tmds.LibC lacks: the structs and opcodes).</summary>
internal static class SocketFilter
{
    // <linux/bpf_common.h>: instruction classes, sizes, modes and sources.
    private const ushort BpfLd = 0x00;
    private const ushort BpfJmp = 0x05;
    private const ushort BpfRet = 0x06;
    private const ushort BpfW = 0x00;
    private const ushort BpfAbs = 0x20;
    private const ushort BpfJeq = 0x10;
    private const ushort BpfK = 0x00;
    // <linux/filter.h>: an absolute load at SKF_AD_OFF + SKF_AD_PKTTYPE reads the packet's skb->pkt_type, not its bytes.
    private const int SkfAdOff = -0x1000;
    private const int SkfAdPktType = 4;
    // <linux/if_packet.h>: a packet the kernel sends out of the interface.
    private const uint PacketOutgoing = 4;
    // A return value is how many bytes of the packet to keep: all of them (the largest a TUN packet can be), or none.
    private const uint KeepAll = 0x40000;
    private const uint Refuse = 0;

    /// <summary>
    /// Accepts only packets the kernel sends out of the interface (sll_pkttype PACKET_OUTGOING): a packet socket on a TUN
    /// interface then never queues what the TUN's owner writes into it (the kernel receiving, PACKET_HOST).
    /// </summary>
    internal static readonly SockFilter[] OutgoingOnly =
    [
        new(BpfLd | BpfW | BpfAbs, 0, 0, unchecked((uint)(SkfAdOff + SkfAdPktType))),
        new(BpfJmp | BpfJeq | BpfK, 0, 1, PacketOutgoing),
        new(BpfRet | BpfK, 0, 0, KeepAll),
        new(BpfRet | BpfK, 0, 0, Refuse),
    ];
}

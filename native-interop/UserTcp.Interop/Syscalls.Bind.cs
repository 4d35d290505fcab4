using System.Buffers.Binary;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>
    /// bind(2) to an IPv4 address and port, as a struct sockaddr_in (netinet/in.h: sin_family, then sin_port and sin_addr
    /// in network order, then eight bytes of zero); -1 and errno on failure.
    /// </summary>
    internal static unsafe int BindIPv4(SafeFileDescriptor socket, ReadOnlySpan<byte> address, ushort port)
    {
        Span<byte> sockaddr = stackalloc byte[16];
        sockaddr.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(sockaddr, (ushort)LibC.AF_INET); // sa_family_t, host order (x86-64, arm64: little-endian)
        BinaryPrimitives.WriteUInt16BigEndian(sockaddr[2..], port);
        address[..4].CopyTo(sockaddr[4..]);
        using var held = new Held(socket);
        fixed (byte* pointer = sockaddr)
        {
            return KeepErrno(LibC.bind(held.Fd, (sockaddr*)pointer, sockaddr.Length));
        }
    }
}

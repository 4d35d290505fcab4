using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

public sealed class TunOptionsTests
{
    [Theory]
    [InlineData("10.77.0.1/24", "10.77.0.1", 24, "255.255.255.0")]
    [InlineData("192.168.1.9/32", "192.168.1.9", 32, "255.255.255.255")]
    [InlineData("10.0.0.1/0", "10.0.0.1", 0, "0.0.0.0")]
    [InlineData("172.16.5.4/20", "172.16.5.4", 20, "255.255.240.0")]
    public void Interface_address_parses_cidr(string text, string address, int prefix, string netmask)
    {
        InterfaceAddress parsed = InterfaceAddress.Parse(text);

        Assert.Equal(address, parsed.Address.ToString());
        Assert.Equal(prefix, parsed.PrefixLength);
        Assert.Equal(netmask, parsed.Netmask.ToString());
        Assert.Equal(text, parsed.ToString());
    }

    [Theory]
    [InlineData("10.77.0.1")]
    [InlineData("10.1/24")]
    [InlineData("10.77.0.1/33")]
    [InlineData("10.77.0.1/-1")]
    [InlineData("10.77.0.1/+8")]
    [InlineData("10.77.0.256/24")]
    [InlineData("::1/64")]
    [InlineData("10.77.0.1/")]
    public void Interface_address_refuses_anything_but_a_dotted_quad_and_prefix(string text) =>
        Assert.False(InterfaceAddress.TryParse(text, out _));

    [Theory]
    [InlineData("")]
    [InlineData("utcp-name-too-long")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a:b")]
    [InlineData("..")]
    public void Invalid_interface_names_are_refused_before_any_system_call(string name) =>
        Assert.Throws<ArgumentException>(() => new TunOptions(name, InterfaceAddress.Parse("10.77.0.1/24")));

    [Theory]
    [InlineData(67)]
    [InlineData(65536)]
    public void Mtu_outside_what_tun_accepts_is_refused(int mtu) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TunOptions("utcp0", InterfaceAddress.Parse("10.77.0.1/24"), mtu));

    [Fact]
    public void The_transmit_queue_is_the_kernels_unless_given_and_must_hold_a_packet()
    {
        var options = new TunOptions("utcp0", InterfaceAddress.Parse("10.77.0.1/24"));
        Assert.Null(options.QueueLength);
        Assert.Equal(65536, (options with { QueueLength = 65536 }).QueueLength);
        Assert.Throws<ArgumentOutOfRangeException>(() => options with { QueueLength = 0 });
    }
}

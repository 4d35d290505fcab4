using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.AspNetCore;

/// <summary><c>UseUserTcp</c>: Kestrel over a UserTcp stack.</summary>
public static class WebHostBuilderUserTcpExtensions
{
    /// <summary>
    /// Makes <paramref name="stack"/> Kestrel's transport for endpoints on the stack's address (and for wildcard addresses):
    /// <c>builder.WebHost.UseUserTcp(stack).UseUrls("http://10.77.0.2:80")</c>. Endpoints elsewhere (localhost) stay with
    /// Kestrel's other transports. The stack is the caller's: start it before the host and dispose it after.
    /// </summary>
    public static IWebHostBuilder UseUserTcp(this IWebHostBuilder builder, NetStack stack, Action<UserTcpTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(stack);
        var options = new UserTcpTransportOptions();
        configure?.Invoke(options);
        // Added, not tried: Kestrel asks the transport registered last first, so this one sees the stack's endpoints first.
        return builder.ConfigureServices(services => services.AddSingleton<IConnectionListenerFactory>(provider => new UserTcpTransportFactory(
            stack, options, provider.GetService<ILoggerFactory>(), provider.GetService<IMemoryPoolFactory<byte>>())));
    }
}

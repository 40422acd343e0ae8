import HummingbirdCore
import HummingbirdTLS
import NIOSSL

/// Plain HTTP/1.1, or HTTPS with the configured certificate (and client certificates for mutual
/// TLS); every connection counted against its address's allowance (``ConnectionsPerAddress``).
func serverBuilder(
    _ tls: CentralConfiguration.TLSFiles?, idleTimeout: Duration, connections: ConnectionsPerAddress
) throws(CentralError) -> HTTPServerBuilder {
    let http1 = HTTPServerBuilder.http1(
        configuration: .init(
            additionalChannelHandlers: [connections.handler()], idleTimeout: .nanoseconds(Int64(idleTimeout.components.seconds) * 1_000_000_000)))
    guard let tls else { return http1 }
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA = tls.clientCA {
            // Offices are identified by their token; the certificate proves the machine, so the
            // CA is checked and the host name is not.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .file(clientCA)
        }
        return try .tls(http1, tlsConfiguration: configuration)
    } catch {
        throw CentralError(
            .internalServerError, .tls, "cannot set up HTTPS from \(tls.certificateChain) and \(tls.privateKey): \(error)",
            hint: "Give a PEM certificate chain and its PEM private key, readable by the service user (docs/OPERATIONS.md).")
    }
}

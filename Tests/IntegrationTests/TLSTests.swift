import Foundation
import SyncCore
import SyncTesting
import Testing

@testable import Central
@testable import Transport

/// A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with the
/// openssl command in a temporary folder.
struct TestPKI {
    let dir: TemporaryDirectory
    var ca: String { dir.file("ca.pem") }
    var serverCert: String { dir.file("server.pem") }
    var serverKey: String { dir.file("server.key") }
    var clientCert: String { dir.file("client.pem") }
    var clientKey: String { dir.file("client.key") }
    var otherCA: String { dir.file("other-ca.pem") }

    init() throws {
        dir = try TemporaryDirectory(prefix: "pki")
        let d = dir.path
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=promo-sync test CA", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
        ])
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=someone else", "-keyout", "\(d)/other-ca.key", "-out", "\(d)/other-ca.pem",
        ])
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(d)/server.ext", atomically: true, encoding: .utf8)
        for (name, ext) in [("server", ["-extfile", "\(d)/server.ext"]), ("client", [String]())] {
            try Self.openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(name)",
                "-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).csr",
            ])
            try Self.openssl(
                [
                    "x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
                    "-CAcreateserial", "-days", "2", "-out", "\(d)/\(name).pem",
                ] + ext)
        }
    }

    static func openssl(_ arguments: [String]) throws {
        let process = try ChildProcess(path: "/usr/bin/openssl", arguments: arguments, environment: ProcessInfo.processInfo.environment)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    }
}

@Suite struct TLSTests {
    func client(_ central: LiveCentral, ca: String?, cert: String? = nil, key: String? = nil) -> CentralClient {
        var config = HTTPClientConfiguration()
        config.caBundlePath = ca
        config.clientCertificatePath = cert
        config.clientKeyPath = key
        config.totalTimeout = .seconds(60)  // bounds a hung test; a loaded machine may take long to handshake
        return CentralClient(baseURL: central.url, token: "", http: HTTPClient(configuration: config))
    }

    @Test func theOfficeVerifiesTheCentralsCertificate() async throws {
        let pki = try TestPKI()
        try await withLiveCentral(tls: .init(certificateChain: pki.serverCert, privateKey: pki.serverKey)) { central in
            #expect(central.url.hasPrefix("https://"))
            let health = try await client(central, ca: pki.ca).health()
            #expect(health.status == "ok")
            // A certificate from a CA the office does not trust is refused, and retrying will not help.
            let error = await #expect(throws: TransportError.self) { try await client(central, ca: pki.otherCA).health() }
            #expect(error?.code == .tls && error?.isTransient == false)
            // So is one checked against the system store (the test CA is in none).
            let system = await #expect(throws: TransportError.self) { try await client(central, ca: nil).health() }
            #expect(system?.code == .tls)
        }
    }

    @Test func mutualTLSAcceptsTheRightClientCertificateOnly() async throws {
        let pki = try TestPKI()
        try await withLiveCentral(tls: .init(certificateChain: pki.serverCert, privateKey: pki.serverKey, clientCA: pki.ca)) { central in
            let health = try await client(central, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey).health()
            #expect(health.status == "ok")
            await #expect(throws: TransportError.self) { try await client(central, ca: pki.ca).health() }
            // A client certificate signed by another CA is refused too.
            await #expect(throws: TransportError.self) {
                try await client(central, ca: pki.ca, cert: pki.otherCA, key: pki.dir.file("other-ca.key")).health()
            }
        }
    }
}

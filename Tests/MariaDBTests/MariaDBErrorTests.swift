import MariaDB
import Testing

@Suite("MariaDBError")
struct MariaDBErrorTests {
    static let patientName = "Nguyen Van Secret"

    @Test func descriptionNeverContainsMessageOrQuery() {
        let error = MariaDBError(
            code: .server, serverErrorNumber: 1062, sqlState: "23000",
            serverMessage: "Duplicate entry '\(Self.patientName)' for key 'lname'",
            query: "INSERT INTO patient_data (lname) VALUES (?)"
        )
        let description = error.description
        #expect(!description.contains("Secret"))
        #expect(!description.contains("Duplicate"))
        #expect(!description.contains("INSERT"))
        #expect(!description.contains("patient_data"))
        #expect(description.contains("1062"))
        #expect(description.contains("23000"))
        #expect(description.contains("server"))
        #expect("\(error)" == description)
        // String(describing:) of the error as `any Error` uses description too.
        let erased: any Error = error
        #expect(!String(describing: erased).contains("Secret"))
        // debugDescription adds the SQL (placeholders only), never the server message, which quotes the value.
        #expect(!error.debugDescription.contains("Secret"))
        #expect(!error.debugDescription.contains("Duplicate entry"))
        #expect(error.debugDescription.contains("INSERT INTO patient_data"))
        #expect(!String(reflecting: erased).contains("Duplicate entry"))
        // Nor does Swift's default printing of a value that holds the error (it prints nested values with reflecting).
        struct Wrapper: Error { var underlying: MariaDBError }
        #expect(!String(describing: Wrapper(underlying: error)).contains("Duplicate entry"))
        #expect(error.serverMessage?.contains("Duplicate entry") == true)
    }

    @Test func decodingErrorNamesColumnOnly() {
        let error = MariaDBError(code: .decoding, serverMessage: "cannot decode as Int", column: "dob")
        #expect(error.description.contains("dob"))
        #expect(error.description.contains("decoding"))
        #expect(!error.description.contains("cannot decode"))
    }

    @Test func duplicateKey() {
        #expect(MariaDBError(code: .server, serverErrorNumber: 1062).isDuplicateKey)
        #expect(!MariaDBError(code: .server, serverErrorNumber: 1064).isDuplicateKey)
        #expect(!MariaDBError(code: .server).isDuplicateKey)
    }

    @Test(arguments: [2006, 2013, 2002, 2003, 2055, 1927, 4031, 1053] as [UInt32])
    func connectionLostNumbers(number: UInt32) {
        let error = MariaDBError(code: .server, serverErrorNumber: number)
        #expect(error.isConnectionLost)
        #expect(error.isUnavailable)
    }

    @Test func connectionFailedIsLostAndUnavailable() {
        let error = MariaDBError(code: .connectionFailed, serverErrorNumber: 1045)
        #expect(error.isConnectionLost)
        #expect(error.isUnavailable)
    }

    @Test(arguments: [1064, 1062, 1146, 1205, 1213] as [UInt32])
    func ordinaryServerErrorsAreNotLost(number: UInt32) {
        let error = MariaDBError(code: .server, serverErrorNumber: number)
        #expect(!error.isConnectionLost)
        #expect(!error.isUnavailable)
    }

    @Test func unavailableCodes() {
        for code in [MariaDBError.Code.leaseTimeout, .poolClosed, .threadPoolInactive, .tlsRequired, .connectionFailed] {
            #expect(MariaDBError(code: code).isUnavailable, "\(code)")
        }
        for code in [MariaDBError.Code.server, .statement, .decoding, .invalidConfiguration] {
            #expect(!MariaDBError(code: code).isUnavailable, "\(code)")
            #expect(!MariaDBError(code: code).isConnectionLost, "\(code)")
        }
    }

    @Test func retryable() {
        #expect(MariaDBError(code: .server, serverErrorNumber: 1213).isRetryableTransactionError)
        #expect(MariaDBError(code: .server, serverErrorNumber: 1205).isRetryableTransactionError)
        #expect(!MariaDBError(code: .server, serverErrorNumber: 1062).isRetryableTransactionError)
    }

    @Test func codeDescriptionsAndEquality() {
        #expect(MariaDBError.Code.leaseTimeout.description == "leaseTimeout")
        #expect(MariaDBError.Code.leaseTimeout == .leaseTimeout)
        #expect(MariaDBError.Code.leaseTimeout != .poolClosed)
        #expect(MariaDBError(code: .poolClosed).description == "MariaDBError(code: poolClosed)")
    }
}

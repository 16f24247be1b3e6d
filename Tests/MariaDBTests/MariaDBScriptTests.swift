import MariaDB
import Testing

@Suite("MariaDBScript splitting")
struct MariaDBScriptTests {
    @Test func splitsOnSemicolons() {
        #expect(MariaDBScript.statements(in: "SELECT 1; SELECT 2;") == ["SELECT 1", "SELECT 2"])
    }

    @Test func trailingStatementWithoutSemicolon() {
        #expect(MariaDBScript.statements(in: "SELECT 1;\nSELECT 2\n") == ["SELECT 1", "SELECT 2"])
    }

    @Test func emptyInputs() {
        #expect(MariaDBScript.statements(in: "").isEmpty)
        #expect(MariaDBScript.statements(in: " \n\t ").isEmpty)
        #expect(MariaDBScript.statements(in: ";;\n;").isEmpty)
        #expect(MariaDBScript.statements(in: "-- only a comment\n# another\n/* and; another */").isEmpty)
    }

    @Test func stripsComments() {
        let script = """
            -- leading comment; with semicolon
            SELECT 1; # hash comment; here
            SELECT /* inline; comment */ 2;
            /* multi
               line; comment */
            SELECT 3 -- trailing
            ;
            --
            """
        #expect(MariaDBScript.statements(in: script) == ["SELECT 1", "SELECT   2", "SELECT 3"])
    }

    @Test func doubleDashWithoutSpaceIsNotAComment() {
        #expect(MariaDBScript.statements(in: "SELECT 1--1; SELECT 2") == ["SELECT 1--1", "SELECT 2"])
    }

    @Test func semicolonsInsideQuotes() {
        let script = ##"INSERT INTO t VALUES ('a;b', "c;d", `e;f`); SELECT '-- no', "# no", '/* no */';"##
        #expect(MariaDBScript.statements(in: script) == [
            ##"INSERT INTO t VALUES ('a;b', "c;d", `e;f`)"##,
            ##"SELECT '-- no', "# no", '/* no */'"##,
        ])
    }

    @Test func escapedQuotes() {
        let script = #"INSERT INTO t VALUES ('it\'s; here', 'don''t; stop', "say \"hi;\"", `we``ird;`); SELECT 3"#
        #expect(MariaDBScript.statements(in: script) == [
            #"INSERT INTO t VALUES ('it\'s; here', 'don''t; stop', "say \"hi;\"", `we``ird;`)"#,
            "SELECT 3",
        ])
    }

    @Test func backslashBeforeQuoteInsideString() {
        // '\\' is one escaped backslash: the string ends after it.
        let script = #"SELECT 'a\\'; SELECT 'b'"#
        #expect(MariaDBScript.statements(in: script) == [#"SELECT 'a\\'"#, "SELECT 'b'"])
    }

    @Test func keepsExecutableComments() {
        let script = """
            /*!40101 SET NAMES utf8mb4 */;
            /*!40014 SET FOREIGN_KEY_CHECKS=0 */;
            CREATE TABLE t (id INT) /*!50100 ENGINE=InnoDB */;
            """
        #expect(MariaDBScript.statements(in: script) == [
            "/*!40101 SET NAMES utf8mb4 */",
            "/*!40014 SET FOREIGN_KEY_CHECKS=0 */",
            "CREATE TABLE t (id INT) /*!50100 ENGINE=InnoDB */",
        ])
    }

    @Test func unicodeAndCRLF() {
        let script = "INSERT INTO t VALUES ('Nguyễn Văn Ánh; 😀');\r\nSELECT 'ü'\r\n"
        #expect(MariaDBScript.statements(in: script) == ["INSERT INTO t VALUES ('Nguyễn Văn Ánh; 😀')", "SELECT 'ü'"])
    }

    @Test func unterminatedBlockCommentEndsScript() {
        #expect(MariaDBScript.statements(in: "SELECT 1; /* never closed; SELECT 2") == ["SELECT 1"])
    }
}

// Key pairs for the JWT tests, made once per test run with libcrypto and kept as PEM text.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

namespace partyline::testing {

struct KeyPair {
    std::string publicPem;
    std::string privatePem;
};

// A fresh key pair: keygen("RSA", 2048), keygen("EC", "P-256"), keygen("ED25519").
template <class... Params>
KeyPair makeKeyPair(const char* type, Params... params) {
    EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, type, params...);
    KeyPair pair;
    if (!pkey) return pair;
    auto toPem = [pkey](bool isPrivate) {
        BIO* bio = BIO_new(BIO_s_mem());
        if (isPrivate) {
            PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        } else {
            PEM_write_bio_PUBKEY(bio, pkey);
        }
        char* data = nullptr;
        long size = BIO_get_mem_data(bio, &data);
        std::string pem(data, static_cast<size_t>(size));
        BIO_free(bio);
        return pem;
    };
    pair.publicPem = toPem(false);
    pair.privatePem = toPem(true);
    EVP_PKEY_free(pkey);
    return pair;
}

inline const KeyPair& rsaKeys() {
    static const KeyPair keys = makeKeyPair("RSA", size_t{2048});
    return keys;
}
inline const KeyPair& ecKeys() {
    static const KeyPair keys = makeKeyPair("EC", "P-256");
    return keys;
}
inline const KeyPair& ed25519Keys() {
    static const KeyPair keys = makeKeyPair("ED25519");
    return keys;
}

}  // namespace partyline::testing

# Independent computation of the known answers in known_answer.rs (python3 + cryptography).
import hashlib, hmac, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def priv(b): return X25519PrivateKey.from_private_bytes(bytes([b])*32)
def pub(k): return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
def der(k): return k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
def dh(priv_k, pub_k): return priv_k.exchange(pub_k.public_key())
def hkdf(salt, ikm, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha512).digest()
    out=b""; t=b""; i=1
    while len(out)<n:
        t=hmac.new(prk, t+info+bytes([i]), hashlib.sha512).digest(); out+=t; i+=1
    return out[:n]
def hkdf3(salt, ikm, info):
    o=hkdf(salt, ikm, info, 96); return o[:32], o[32:64], o[64:]
def pad(m, n): return struct.pack(">H", len(m)) + m + b"#"*(n-len(m)-2)

a1,a2,b1,b2,b5 = priv(1),priv(2),priv(3),priv(4),priv(5)
for v in (2,3):
    dhs = dh(b2,a1) + dh(b1,a2) + dh(b2,a2)
    hk, nhk, sk = hkdf3(b"\0"*64, dhs, b"SimpleXX3DH")
    ad = pub(b1) + pub(a1)
    rk, cks, nhks = hkdf3(sk, dh(b5, a2), b"SimpleXRootRatchet")
    ck2, mk, ivs = hkdf3(b"", cks, b"SimpleXChainRatchet")
    iv, hiv = ivs[:16], ivs[16:]
    d = der(b5)
    hdr = struct.pack(">H", 3) + bytes([len(d)]) + d + (b"0" if v>=3 else b"") + struct.pack(">II", 0, 0)
    ct = AESGCM(hk).encrypt(hiv, pad(hdr, 88), ad)
    hbody, htag = ct[:-16], ct[-16:]
    enc_header = struct.pack(">H", v) + hiv + htag + (struct.pack(">H", len(hbody)) if v>=3 else bytes([len(hbody)])) + hbody
    ct = AESGCM(mk).encrypt(iv, pad(b"hello alice", 100), ad + enc_header)
    body, tag = ct[:-16], ct[-16:]
    msg = (struct.pack(">H", len(enc_header)) if v>=3 else bytes([len(enc_header)])) + enc_header + tag + body
    print(v, len(msg), msg.hex())

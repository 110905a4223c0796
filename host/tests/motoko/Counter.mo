// A Motoko counter: the host must run wasm64 canisters with 64-bit System API
// pointers, as Motoko's enhanced orthogonal persistence produces.
persistent actor Counter {
  var count : Nat = 0;
  var log : [Text] = [];

  public func increment() : async Nat {
    count += 1;
    count
  };

  public func remember(name : Text) : async Nat {
    log := [name];
    log.size()
  };

  public query func get() : async Nat {
    count
  };

  public query func last() : async ?Text {
    if (log.size() == 0) null else ?log[0]
  };
};
